"""The Dockerfile and .dockerignore: hadolint clean, multi-stage, non-root, health-checked, no training deps."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from foundation.settings import REPO_ROOT
from tests.external import tool

DOCKERFILE = REPO_ROOT / "Dockerfile"
TEXT = DOCKERFILE.read_text()


def _stages() -> list[str]:
    return re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", TEXT, flags=re.M | re.I)


def test_hadolint_is_clean():
    res = subprocess.run([tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, cwd=REPO_ROOT)
    assert res.returncode == 0, res.stdout + res.stderr


def test_multi_stage_with_a_pinned_base_and_a_non_root_runtime():
    assert len(_stages()) >= 3 and _stages()[-1] == "runtime"
    for image in re.findall(r"^FROM\s+(\S+)", TEXT, flags=re.M):
        assert ":" in image and not image.endswith(":latest"), image
    runtime = TEXT.split("AS runtime", 1)[1]
    user = re.findall(r"^USER\s+(\S+)", runtime, flags=re.M)
    assert user and not user[-1].startswith(("0", "root")), user
    assert re.search(r"^HEALTHCHECK .*healthcheck\.py", runtime, flags=re.M)
    assert re.search(r'^ENTRYPOINT \["inkbus"\]', runtime, flags=re.M)


def test_serving_image_has_no_training_dependencies():
    # Only the serving roles' extra, at its lock's versions: [train], [bench] or [test] would bring training in.
    installs = re.findall(r"^RUN .*?pip install ([^\n&]+)", TEXT, flags=re.M)
    extras = {e for i in installs for group in re.findall(r"\[([^\]]+)\]", i) for e in group.split(",")}
    assert installs and extras == {"serve"}, installs
    assert any("-c serve.txt" in i for i in installs), "install from the lock (requirements/serve.txt)"
    serve = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["serve"]
    assert not any(x in " ".join(serve) for x in ("train", "bench", "test", "all")), serve
    # ONNX Runtime serves and torch stays out, unless a GPU worker image asks for it (SERVING_RUNTIME=torch), and
    # then its CPU wheel by default, not PyPI's CUDA build: the CUDA variant is chosen explicitly
    assert re.search(r"^ARG SERVING_RUNTIME=onnx$", TEXT.split("AS runtime", 1)[1], flags=re.M)
    assert "INKBUS_RUNTIME=${SERVING_RUNTIME}" in TEXT and "INKBUS_ONNX_MODEL_PATH=/app/models/inknet.onnx" in TEXT
    assert re.search(r"^ARG TORCH_VARIANT=cpu$", TEXT, flags=re.M) and '"torch==2.13.0+${TORCH_VARIANT}"' in TEXT
    assert 'if [ "${SERVING_RUNTIME}" = torch ]' in TEXT
    lock = (REPO_ROOT / "requirements" / "serve.txt").read_text()
    assert not re.search(r"^torch==", lock, flags=re.M) and re.search(r"^onnxruntime==", lock, flags=re.M)
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "ml/training/" in ignore and "**/.env" in ignore


def test_every_copied_path_exists_and_is_in_the_build_context():
    ignore = [line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    allowed = [line[1:].rstrip("/") for line in ignore]
    for line in re.findall(r"^COPY (?!--from)(.+)$", TEXT, flags=re.M):
        *sources, _dest = line.split()
        for src in sources:
            path = ("web/" + src) if src.startswith("package") else src  # the web stage's WORKDIR
            assert (REPO_ROOT / path).exists(), src
            assert any(path == a or path.startswith(a + "/") for a in allowed) or path.startswith("web/"), src


def test_healthcheck_script_answers(monkeypatch):
    sys.path.insert(0, str(REPO_ROOT / "ops" / "docker"))
    try:
        import healthcheck
    finally:
        sys.path.pop(0)
    monkeypatch.setenv("INKBUS_HEALTHCHECK_URL", "http://127.0.0.1:9/healthz")  # discard port: nothing listens
    assert healthcheck.main([]) == 1
