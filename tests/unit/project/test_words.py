"""The product speaks of the product: no numbers of the tasks it was built in, in anything tracked."""

from __future__ import annotations

import re
import subprocess

import pytest

from foundation.settings import REPO_ROOT

# Built from parts so that this file does not match itself.
FORBIDDEN = re.compile(r"\b(st" + r"ep|iss" + r"ue)[ _-]?[0-9]", re.IGNORECASE)  # also in names: run-st*p3
TEXT_SUFFIXES = {".py", ".md", ".yml", ".yaml", ".json", ".toml", ".cfg", ".conf", ".tf", ".j2", ".js", ".css"}
TEXT_SUFFIXES |= {".html", ".ini", ".mako", ".txt", ".sh", ".ipynb", ".example", ""}


def tracked_text_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    except OSError as exc:
        pytest.skip(f"git is not installed: {exc}")
    if out.returncode != 0:
        pytest.skip(f"not a git checkout: {out.stderr.strip()}")
    return [f for f in out.stdout.splitlines() if (REPO_ROOT / f).suffix in TEXT_SUFFIXES]


def test_no_task_numbers_in_code_docs_or_ops():
    found = []
    for name in tracked_text_files():
        path = REPO_ROOT / name
        if not path.is_file():  # deleted in the working tree, not yet committed
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if FORBIDDEN.search(line):
                found.append(f"{name}:{n}: {line.strip()[:100]}")
    assert not found, "say what the thing is, not when it was built:\n" + "\n".join(found)


def test_the_pattern_catches_what_it_should():
    assert FORBIDDEN.search("as st" + "ep 4 built it") and FORBIDDEN.search("(Iss" + "ue 7)")
    assert FORBIDDEN.search("model inknet-st" + "ep3-ens2")
    assert not FORBIDDEN.search("a step-based schedule") and not FORBIDDEN.search("issues 0")
