import io
import logging
import re
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from foundation.logs import setup_logging, wants_json
from foundation.settings import REPO_ROOT, Settings, settings_table


def test_readme_configuration_table_is_current():
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("<!-- settings-table:start -->")[1].split("<!-- settings-table:end -->")[0]
    assert block.strip() == settings_table(), "run: python -m foundation.settings, and paste into README.md"


def test_every_setting_is_described_and_read_from_the_environment(monkeypatch):
    for name, field in Settings.model_fields.items():
        assert field.description, name
    monkeypatch.setenv("INKBUS_BATCH_MAX", "7")
    monkeypatch.setenv("INKBUS_BROKER_URL", "amqp://u:p@h:1//")
    s = Settings()
    assert s.batch_max == 7 and s.broker_url == "amqp://u:p@h:1//"


def test_no_broker_urls_or_secrets_as_literals_outside_settings():
    pattern = re.compile(r"amqp://|postgresql://|xox[bp]-|hooks\.slack\.com")
    offenders = []
    for path in REPO_ROOT.glob("*/**/*.py"):
        rel = path.relative_to(REPO_ROOT)
        if rel.parts[0] in {"tests", ".venv", "node_modules", "mutants"} or rel == Path("foundation/settings.py"):
            continue
        if pattern.search(path.read_text(errors="ignore")):
            offenders.append(str(rel))
    assert offenders == []


def test_env_example_lists_every_setting():
    from foundation.settings import env_example

    text = (REPO_ROOT / ".env.example").read_text()
    assert text == env_example(), "run: python -m foundation.settings --write"
    for name in Settings.model_fields:
        assert f"# INKBUS_{name.upper()}=" in text


@pytest.mark.parametrize(
    ("var", "value"),
    [("INKBUS_WORKER_POOL", "gevent"), ("INKBUS_ASYNC_MODE", "asyncio"), ("INKBUS_LOG_LEVEL", "LOUD")],
)
def test_enum_like_settings_refuse_unknown_values(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as err:
        Settings()
    assert err.value.errors()[0]["type"] == "literal_error"


def test_log_level_is_case_insensitive_and_choices_match_the_cli(monkeypatch):
    from foundation.choices import ASYNC_MODES, WORKER_POOLS

    monkeypatch.setenv("INKBUS_LOG_LEVEL", "debug")
    assert Settings().log_level == "DEBUG"
    assert set(ASYNC_MODES) == {"gevent", "threading", "eventlet"} and "solo" in WORKER_POOLS


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_logs_are_json_unless_a_person_reads_them():
    assert wants_json(None, _Stream(tty=False)) is True
    assert wants_json(None, _Stream(tty=True)) is False
    assert wants_json(True, _Stream(tty=True)) is True and wants_json(False, _Stream(tty=False)) is False


def test_text_logs_are_one_readable_line(monkeypatch):
    stream = _Stream(tty=True)
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("info", None)
        logging.getLogger("inkbus.test").info("edge ready", extra={"port": 8000})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    line = stream.getvalue().strip()
    assert line.endswith("INFO inkbus.test: edge ready") and not line.startswith("{")
