"""Jenkinsfile and .gitlab-ci.yml: the same stages, thin (make targets only), GitLab's schema, a gated prod deploy."""

from __future__ import annotations

import re
import subprocess

import yaml

from foundation.settings import REPO_ROOT
from tests.external import VENV_BIN, tool

JENKINSFILE = (REPO_ROOT / "Jenkinsfile").read_text()
GITLAB = REPO_ROOT / ".gitlab-ci.yml"


def _commands() -> list[str]:
    """Every shell command both pipelines run: Jenkins `sh '...'` steps and GitLab `script` lines."""
    cmds = re.findall(r"sh '([^']*)'", JENKINSFILE)
    for job in yaml.safe_load(GITLAB.read_text()).values():
        if isinstance(job, dict):
            cmds += job.get("script", [])
    return cmds


def test_jenkinsfile_passes_npm_groovy_lint():
    # `make install-test` puts the npm package inside .venv; it runs CodeNarc on the system Java.
    tool("java", "the ops-tools target")
    exe = tool(
        "npm-groovy-lint",
        "a Makefile target",
        VENV_BIN.parent / "npm-groovy-lint" / "node_modules" / ".bin" / "npm-groovy-lint",
    )
    res = subprocess.run(
        [exe, "--failon", "error", "--noserver", "--output", "txt", "Jenkinsfile"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]


def test_gitlab_ci_matches_gitlabs_schema():
    res = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(GITLAB)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_both_pipelines_call_existing_make_targets_only():
    calls = {m for cmd in _commands() for m in re.findall(r"\bmake ([a-z][a-z-]*)", cmd)}
    assert {"lint", "test-unit", "image-push", "deploy"} <= calls
    for target in calls:
        res = subprocess.run(["make", "-n", target], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, f"make {target}: {res.stderr}"
    for cmd in _commands():  # thin: the logic lives in the Makefile, shared with .ci/run and people
        assert re.match(r"(KUBECONFIG=\S+ )?make |bash \.ci/run|echo ", cmd), cmd


def test_same_stages_and_a_gated_production_deploy():
    stages = re.findall(r"stage\('([^']+)'\)", JENKINSFILE)
    assert stages == [
        "Lint",
        "Unit",
        "Tools",
        "Integration",
        "Build and push image",
        "Deploy dev",
        "Approve prod",
        "Deploy prod",
        "Learning loop",
    ]
    assert "triggeredBy 'TimerTrigger'" in JENKINSFILE  # the scheduled build runs the loop, never a deploy
    assert "input message:" in JENKINSFILE
    pipeline = yaml.safe_load(GITLAB.read_text())
    assert pipeline["stages"] == ["lint", "unit", "integration", "build", "deploy"]
    assert pipeline["tools"]["script"] == ["make test-tools"] and pipeline["tools"]["stage"] == "unit"
    prod = pipeline["deploy-prod"]
    assert prod["environment"]["name"] == "production"
    assert all(rule.get("when") in {"manual", "never"} for rule in prod["rules"])
    assert [r["when"] for r in prod["rules"] if r["when"] == "never"] == ["never"]  # not from a scheduled pipeline
    assert pipeline["learning-loop"]["rules"][0]["if"].startswith('$CI_PIPELINE_SOURCE == "schedule"')
    # Both run the integration tests through .ci/run, which installs rabbitmq-server on the job's machine:
    # rabbitmqctl is there, so the tests get private vhosts and the broker-restart fault test runs.
    assert pipeline["integration"]["script"] == ["bash .ci/run"] and "bash .ci/run" in JENKINSFILE
    assert "rabbitmq-server" in (REPO_ROOT / "Makefile").read_text()  # make install-test: private test brokers


def test_every_ci_says_it_is_ci():
    # Tests that need a tool or a service skip on a workstation but fail where CI is set: every CI sets it.
    assert re.search(r"environment \{[^}]*\bCI = 'true'", JENKINSFILE)  # GitLab sets CI itself
