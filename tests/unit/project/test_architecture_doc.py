"""docs/ARCHITECTURE.md stays true: every file it walks through exists and every name it says to grep is there."""

from __future__ import annotations

import re

from foundation.settings import REPO_ROOT

DOC = (REPO_ROOT / "docs" / "ARCHITECTURE.md").read_text()
SOURCES = [*REPO_ROOT.glob("*/**/*.py"), *(REPO_ROOT / "web" / "static").glob("*.js")]


def _code() -> str:
    return "\n".join(p.read_text() for p in SOURCES if ".venv" not in p.parts and "node_modules" not in p.parts)


def test_every_file_named_exists():
    paths = set(re.findall(r"`((?:web|bus|producers|workers|ml|tutor|inkbus)/[\w/]+\.(?:py|js))", DOC))
    assert len(paths) >= 10
    assert not [p for p in paths if not (REPO_ROOT / p).is_file()]


def _code_names() -> set[str]:
    """The functions, methods and classes the walk names: `Class.method`, `file.py:function`, `function`."""
    names = set()
    prose = re.sub(r"```.*?```", "", DOC, flags=re.S)
    for span in re.findall(r"`([^`]+)`", prose):
        if span.startswith("inkbus.") or re.search(r"[ <\"']", span) or ("/" in span and ":" not in span):
            continue  # queue and exchange names, routing keys, file paths
        name = re.sub(r"\(.*", "", span.split(":")[-1]).split(".")[-1]
        if re.fullmatch(r"[A-Za-z_]\w+", name) and (name != name.lower() or "_" in name or span.endswith(")")):
            names.add(name)
    return names


def test_every_function_named_is_defined():
    code = _code()
    names = _code_names()
    assert {"on_bus_event", "RecognizeJob", "showPrediction"} <= names
    defined = r"(def|class|function)\s+{n}\b|\b{n}\s*=|^\s*(get\s+)?{n}\([^)]*\)\s*\{{"  # JS methods too
    missing = [n for n in sorted(names) if not re.search(defined.format(n=n), code, re.M)]
    assert not missing, f"docs/ARCHITECTURE.md names what the code no longer has: {missing}"
