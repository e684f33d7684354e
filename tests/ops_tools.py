"""The delivery tests' tools (docs/DEPLOY.md): found next to this Python first, else on PATH.

`make install-test` installs every one of them, so a missing tool skips the test with the reason here and fails
it in CI (env CI set), like the e2e tests' browser.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import pytest

VENV_BIN = Path(sys.executable).parent


def missing(msg: str) -> NoReturn:
    """The one way a test meets a missing tool or server: skipped with ``msg`` locally, failed in CI."""
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def tool(name: str, installed_by: str = "pyproject's test extra", path: Path | None = None) -> str:
    """The executable ``name`` (or the file ``path``); skip or fail the test when it is absent."""
    if path is not None:
        if path.exists():
            return str(path)
        found = None
    else:
        found = shutil.which(name, path=str(VENV_BIN)) or shutil.which(name)
    if found is None:
        missing(f"{name} is missing: `make install-test` installs it ({installed_by})")
    return found
