"""The one way a test meets a program or server it needs: `make install-test` installs every one of them, so a
missing one skips the test with the reason locally and fails it in CI (env CI set: .ci/run, the Jenkinsfile and
GitLab set it).

Programs are looked for next to this Python first (tools the test extra installs into the venv), then on PATH,
then in the system directories Debian puts daemons in (``/usr/sbin`` is not on every user's PATH).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import pytest

VENV_BIN = Path(sys.executable).parent
SYSTEM_DIRS = ("/usr/sbin", "/usr/bin", "/sbin")


def missing(msg: str) -> NoReturn:
    """Skip the test with ``msg`` locally; fail it in CI, where everything the tests need must be present."""
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def tool(name: str, installed_by: str = "pyproject's test extra", path: Path | None = None) -> str:
    """The executable ``name`` (or the file ``path``); skip or fail the test when it is absent."""
    if path is not None:
        found = str(path) if path.exists() else None
    else:
        found = (
            shutil.which(name, path=str(VENV_BIN))
            or shutil.which(name)
            or next((p for p in (f"{d}/{name}" for d in SYSTEM_DIRS) if os.access(p, os.X_OK)), None)
        )
    if found is None:
        missing(f"{name} is missing: `make install-test` installs it ({installed_by})")
    return found
