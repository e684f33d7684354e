"""docs/PROTOCOL.md lists every error code the edge can return, with its HTTP status, and nothing else.

The codes are read from the source: ``error_response(status, "code", ...)``, ``BodyError(status, "code"``,
the chat services' ``return status, "code", ...``, ``EventError("code"``, ``InkError("code"``,
``Refused("code"``, ``"code": "..."`` literals, and the workers' ``code="..."``."""

from __future__ import annotations

import re

from foundation.settings import REPO_ROOT
from web.errors import status_of

SOURCES = [
    "web",
    "chatbots",
    "foundation/safejson.py",
    "foundation/http_errors.py",
    "ml/ink.py",
    "ml/raster.py",
    "workers",
]
SKIP = {"chatbots/core.py"}  # chat replies: 200 with ok false, documented under "Chat API"
WITH_STATUS = re.compile(r'(?:error_response\(|BodyError\(|return )\s*(\d{3}),\s*"([a-z_]+)"')
BY_CODE = re.compile(r'(?:EventError|InkError|Refused)\(\s*"([a-z_]+)"|"code":\s*"([a-z_]+)"|code="([a-z_]+)"')
SOCKET_ONLY = re.compile(r'EventError\(\s*"([a-z_]+)"')


def _files():
    for src in SOURCES:
        path = REPO_ROOT / src
        for f in [path] if path.is_file() else sorted(path.rglob("*.py")):
            if f.is_file() and str(f.relative_to(REPO_ROOT)) not in SKIP:
                yield f


def emitted() -> dict[str, set[int | None]]:
    """code -> HTTP statuses it is returned with (None: a Socket.IO-only code)."""
    found: dict[str, set[int | None]] = {}
    for f in _files():
        text = f.read_text()
        for status, code in WITH_STATUS.findall(text):
            found.setdefault(code, set()).add(int(status))
        socket_only = (
            set(SOCKET_ONLY.findall(text)) if f.name in ("sockets.py", "tutoring.py", "socket_guards.py") else set()
        )
        for groups in BY_CODE.findall(text):
            code = next(g for g in groups if g)
            found.setdefault(code, set()).add(None if code in socket_only else status_of(code))
    return found


def documented() -> dict[str, int | None]:
    doc = (REPO_ROOT / "docs" / "PROTOCOL.md").read_text()
    section = doc.split("## Every status and code the edge returns", 1)[1].split("\n## ", 1)[0]
    table: dict[str, int | None] = {}
    for row in re.findall(r"^\|(.+)\|$", section, re.M):
        cells = [c.strip() for c in row.split("|")]
        codes = re.findall(r"`([a-z_]+)`", cells[0])
        if codes and len(cells) >= 3:
            for code in codes:
                table[code] = int(cells[1]) if cells[1].isdigit() else None
    return table


def test_every_emitted_code_is_documented_with_its_status():
    docs, found = documented(), emitted()
    assert len(found) > 25  # the scan itself works
    missing = sorted(set(found) - set(docs))
    assert not missing, f"codes the edge returns that docs/PROTOCOL.md does not list: {missing}"
    for code, statuses in found.items():
        http = {s for s in statuses if s is not None}
        if http:
            assert http == {docs[code]}, f"{code}: returned with {sorted(http)}, documented {docs[code]}"
        else:
            assert docs[code] is None, f"{code} is Socket.IO only but documented with HTTP {docs[code]}"


def test_every_documented_code_exists():
    found = emitted()
    assert not sorted(set(documented()) - set(found)), "documented codes nothing returns"


def test_the_status_table_agrees_with_the_errors_module():
    docs = documented()
    for code, status in docs.items():
        if status is not None:
            assert status_of(code) == status, code
