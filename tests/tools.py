"""External programs the observability tests drive (Debian packages `make install-test` installs)."""

from __future__ import annotations

import os
import shutil

from tests.ops_tools import missing


def require(binary: str, package: str) -> str:
    """The path of ``binary``; skipped with the reason outside CI, a failure in CI (where it must exist)."""
    path = shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.access(p, os.X_OK)), None
    )
    if path:
        return path
    missing(f"{binary} is missing: `make install-test` installs Debian's {package}")
