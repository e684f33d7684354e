"""Checks that run an external program on the project's files (linters, validators, renderers).

Every test here is marked ``tools``: `make install-test` installs the programs, a missing one is skipped locally
with the reason and fails in CI (tests/external.py).
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "/tools/" in str(item.fspath):
            item.add_marker(pytest.mark.tools)
