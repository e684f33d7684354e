"""ops/ansible: ansible-lint clean, and the app role run for real on this machine (`-c local`, into a temporary
prefix, no systemd) twice: the second run changes nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

from foundation.settings import REPO_ROOT
from tests.external import VENV_BIN, tool
from tests.helpers import PACKAGES

ANSIBLE = REPO_ROOT / "ops" / "ansible"


def _env() -> dict:
    # The test extra's ansible next to this Python; no user config or collections from elsewhere.
    return {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg")}


def test_ansible_lint_is_clean():
    res = subprocess.run(
        [tool("ansible-lint"), "--nocolor", "--offline"],
        cwd=ANSIBLE,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]


def test_app_role_installs_and_is_idempotent(tmp_path):
    playbook = tool("ansible-playbook")
    wheels = tmp_path / "wheels"
    # The release as CI ships it: a wheel in a wheelhouse (its dependencies are this venv's, hence --no-deps below).
    # Built from a copy, so setuptools' build/ never lands in the checkout.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(
            REPO_ROOT / package, src / package, ignore=shutil.ignore_patterns("node_modules", "__pycache__")
        )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), "."],
        cwd=src,
        check=True,
        capture_output=True,
        timeout=300,
    )
    version = re.match(r"inkbus-([^-]+)-", next(wheels.glob("inkbus-*.whl")).name).group(1)
    prefix = tmp_path / "opt"
    units = tmp_path / "systemd"
    units.mkdir()
    extra = {
        "ansible_python_interpreter": sys.executable,
        "inkbus_become": False,
        "inkbus_app_prefix": str(prefix),
        "inkbus_app_create_user": False,
        "inkbus_app_user": "nobody",
        "inkbus_app_group": "nogroup",
        "inkbus_app_python": sys.executable,
        "inkbus_app_version": version,
        "inkbus_app_wheelhouse": str(wheels),
        "inkbus_app_install_deps": False,
        "inkbus_app_systemd_dir": str(units),
        "inkbus_app_manage_services": False,
        "inkbus_app_model_src": str(REPO_ROOT / "models" / "inknet.pt"),
        "inkbus_app_onnx_model_src": str(REPO_ROOT / "models" / "inknet.onnx"),
        # Dummies: the role writes them into a 0600 file; nothing connects in this test.
        "inkbus_app_broker_url": "amqp://test:test@127.0.0.1:5672//",
        "inkbus_app_database_url": "sqlite:////tmp/inkbus-ansible-test.db",
        "inkbus_app_secret_key": "not-a-secret",
    }
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(extra))
    args = [playbook, "-i", "localhost,", "-c", "local", "-e", f"@{vars_file}", "-e", "target=localhost"]
    args.append(str(ANSIBLE / "app.yml"))

    def run() -> str:
        res = subprocess.run(args, cwd=ANSIBLE, env=_env(), capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
        return res.stdout

    first = run()
    assert re.search(r"localhost\s+: ok=\d+\s+changed=[1-9]", first), first[-2000:]
    second = run()
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", second), second[-3000:]

    assert (prefix / "venv" / "bin" / "inkbus").exists()
    env_file = prefix / "etc" / "inkbus.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    env = env_file.read_text()
    assert "INKBUS_MODEL_PATH=" + str(prefix / "models" / "inknet.pt") in env
    assert "INKBUS_ONNX_MODEL_PATH=" + str(prefix / "models" / "inknet.onnx") in env and "INKBUS_RUNTIME=onnx\n" in env
    assert (prefix / "models" / "inknet.onnx").read_bytes() == (REPO_ROOT / "models" / "inknet.onnx").read_bytes()
    assert sorted(p.name for p in units.iterdir()) == [
        "inkbus-bots.service",
        "inkbus-edge@.service",
        "inkbus-feedback.service",
        "inkbus-sink.service",
        "inkbus-worker@.service",
    ]
    edge_unit = (units / "inkbus-edge@.service").read_text()
    assert f"ExecStart={prefix}/venv/bin/inkbus edge --port %i" in edge_unit
    res = subprocess.run([prefix / "venv" / "bin" / "python", "-c", "import foundation.settings"], capture_output=True)
    assert res.returncode == 0 or b"ModuleNotFoundError: No module named 'pydantic" in res.stderr
