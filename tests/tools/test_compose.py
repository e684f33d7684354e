"""docker-compose.yml rendered by Debian's docker-compose (`config` needs no engine): the whole stack, healthy order."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from foundation.settings import REPO_ROOT
from tests.external import missing

COMPOSE = REPO_ROOT / "docker-compose.yml"
# The secrets docker-compose.yml demands from the environment (ops/compose.env.example): dummies for rendering.
SECRETS = ["RABBITMQ_PASSWORD", "POSTGRES_PASSWORD", "INFLUX_PASSWORD", "INFLUX_TOKEN", "GRAFANA_ADMIN_PASSWORD"]
SECRETS.append("INKBUS_SECRET_KEY")
STACK = {"rabbitmq", "postgres", "redis", "influxdb", "telegraf", "prometheus", "grafana", "haproxy"}
ROLES = {"edge1", "edge2", "worker", "feedback", "bots", "sink"}


def _compose(env: dict, tmp_path) -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    if exe is None:
        missing("docker-compose is missing: `make install-test` installs Debian's docker-compose")
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    # An empty env file: a developer's own .env next to the compose file must not hide a missing variable.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    args = [exe, "-f", str(COMPOSE), "--env-file", str(empty), "config"]
    return subprocess.run(args, env={**base, **env}, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict:
    res = _compose({k: "dummy-" + k.lower() for k in SECRETS}, tmp_path_factory.mktemp("compose"))
    assert res.returncode == 0, res.stderr
    return yaml.safe_load(res.stdout)


def test_the_whole_stack_is_there(rendered):
    assert STACK | ROLES | {"migrate"} == set(rendered["services"])


def test_every_long_running_service_is_health_checked(rendered):
    for name, svc in rendered["services"].items():
        if name in {"edge1", "edge2", "migrate"}:
            continue  # the edges use the image's HEALTHCHECK (/healthz, tests/unit/tests/tools/test_docker.py)
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_start_order_waits_for_health(rendered):
    services = rendered["services"]
    for role in ROLES:
        deps = services[role]["depends_on"]
        assert deps["rabbitmq"]["condition"] == "service_healthy", role
        assert deps["migrate"]["condition"] == "service_completed_successfully", role
    assert services["haproxy"]["depends_on"]["edge1"]["condition"] == "service_healthy"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_roles_share_one_image_and_mounted_files_exist(rendered):
    images = {rendered["services"][r]["image"] for r in ROLES | {"migrate"}}
    assert len(images) == 1
    for svc in rendered["services"].values():
        for vol in svc.get("volumes", []):
            src = vol["source"] if isinstance(vol, dict) else vol.split(":")[0]
            if src.startswith("/"):
                assert os.path.exists(src), src


def test_secrets_are_not_in_the_file(tmp_path):
    res = _compose({}, tmp_path)
    assert res.returncode != 0 and "RABBITMQ_PASSWORD" in res.stderr
