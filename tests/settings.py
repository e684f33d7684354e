"""The test subclass of Settings: everything a test needs, still overridable from the environment."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from foundation.settings import REPO_ROOT, Settings

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
TEST_DATA = REPO_ROOT / "tests" / "data"


class TestSettings(Settings):
    __test__ = False  # a settings class, not a test case

    # The broker URL of the tests comes from INKBUS_TEST_BROKER_URL, which tests/conftest.py sets to a private
    # broker when a run has integration tests (else INKBUS_BROKER_URL, else local).
    model_config = SettingsConfigDict(env_prefix="INKBUS_TEST_", extra="ignore")

    broker_url: str = Field(default_factory=lambda: os.environ.get("INKBUS_BROKER_URL", Settings().broker_url))
    data_dir: Path = SHARED_DATA if SHARED_DATA.is_dir() else TEST_DATA
    async_mode: str = "threading"
    request_timeout_s: float = 8.0
    log_json: bool = False
    broker_connect_timeout_s: float = 1.0
    secret_key: SecretStr = SecretStr("test-signing-key-" + "0" * 32)  # tests never write var/secret.key
    # An in-memory progress store per process unless a test says otherwise. Not read from INKBUS_TEST_DATABASE_URL:
    # that one names a PostgreSQL server for the tests that make a database of their own (``postgres_url``).
    database_url: str = Field("sqlite://", validation_alias="INKBUS_TEST_STORE_URL")
    # Tests post back to back from one address (fuzzing, load through HAProxy): the rate limit tests set their own.
    rate_limit_recognize: str = "100000/second"
    rate_limit_chat: str = "100000/second"
    rate_limit_chatbots: str = "100000/second"
