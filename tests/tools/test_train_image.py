"""The learning loop's image: hadolint clean, built on the serving image of the same build, and the only image
whose build context lets ml/training in (the serving image's .dockerignore keeps it out)."""

from __future__ import annotations

import re
import subprocess

from foundation.settings import REPO_ROOT
from tests.external import tool

TRAIN = REPO_ROOT / "ops" / "docker" / "train.Dockerfile"


def test_hadolint_is_clean():
    res = subprocess.run([tool("hadolint"), str(TRAIN)], capture_output=True, text=True, cwd=REPO_ROOT)
    assert res.returncode == 0, res.stdout + res.stderr


def test_it_adds_the_training_code_to_the_serving_image_and_nothing_else():
    text = TRAIN.read_text()
    assert re.search(r"^FROM \$\{BASE\}$", text, flags=re.M) and re.search(r"^USER 10001", text, flags=re.M)
    copies = re.findall(r"^COPY (\S+) ", text, flags=re.M)
    assert copies == ["ml/training"]
    ignore = (TRAIN.parent / "train.Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[1:3] == ["**", "!ml/training/"]
    assert "ml/training/" in (REPO_ROOT / ".dockerignore").read_text().splitlines()  # never in the serving image
    res = subprocess.run(["make", "-n", "image-push", "TAG=t"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert "--build-arg BASE=inkbus:t -t inkbus-train:t" in res.stdout and "docker push inkbus-train:t" in res.stdout
