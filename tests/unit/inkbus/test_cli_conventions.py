"""What a Python user expects of a command: ``python -m inkbus``, ``--version``, help on every option."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

import inkbus
from foundation.settings import REPO_ROOT
from inkbus.cli import main
from tests.helpers import PACKAGES


def _commands(group: click.Group, ctx: click.Context):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield name, cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, click.Context(cmd, parent=ctx, info_name=name))


def test_every_option_of_every_command_has_help():
    ctx = click.Context(main, info_name="inkbus")
    names, missing = [], []
    for name, cmd in _commands(main, ctx):
        names.append(name)
        assert cmd.help, f"`inkbus {name}` has no description"
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden and not p.help:
                missing.append(f"inkbus {name} {p.opts[0]}")
    assert {"run", "edge", "worker", "train", "eval", "bench", "bots"} <= set(names)
    assert not missing, "options without help: " + ", ".join(missing)


def test_version_comes_from_the_package_metadata():
    res = CliRunner().invoke(main, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"inkbus {inkbus.__version__}"
    assert inkbus.__version__ != "0+unknown", "the package is installed (pip install -e .)"


def test_python_dash_m_runs_the_same_command():
    res = subprocess.run(
        [sys.executable, "-m", "inkbus", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Usage: inkbus") and "recognize" in res.stdout


def test_every_package_is_marked_typed():
    for pkg in PACKAGES:
        assert (REPO_ROOT / pkg / "py.typed").is_file(), pkg


def test_a_missing_extra_is_named_not_a_traceback(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "requests" else real(name, *a))
    res = CliRunner().invoke(main, ["bench", "--tiny"])
    assert res.exit_code == 1 and "pip install 'inkbus[bench]'" in res.output and "requests" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
