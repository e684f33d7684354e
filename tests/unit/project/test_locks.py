"""requirements/*.txt (``make lock``) are in step with pyproject.toml: every dependency of a role is locked, at a
version its range allows. A dependency added without ``make lock`` fails here, not at someone's install."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from foundation.settings import REPO_ROOT

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]
LOCKED_ROLES = ["edge", "worker", "feedback", "bots", "sink", "train", "serve", "all", "test"]


def _closure(extra: str) -> list[Requirement]:
    """The extra's requirements with ``inkbus[...]`` self-references expanded, plus the core dependencies."""
    out, todo, seen = [Requirement(r) for r in PROJECT["dependencies"]], [extra], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for raw in EXTRAS[name]:
            req = Requirement(raw)
            if canonicalize_name(req.name) == "inkbus":
                todo.extend(req.extras)
            else:
                out.append(req)
    return out


def _lock(role: str) -> dict[str, str]:
    text = (REPO_ROOT / "requirements" / f"{role}.txt").read_text()
    return {canonicalize_name(n): v for n, v in re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, flags=re.M)}


@pytest.mark.parametrize("role", LOCKED_ROLES)
def test_every_dependency_of_a_role_is_locked_within_its_range(role):
    locked = _lock(role)
    problems = []
    for req in _closure(role):
        version = locked.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name} is not in requirements/{role}.txt")
        elif not req.specifier.contains(version.split("+")[0], prereleases=True):
            problems.append(f"{req.name}=={version} is outside {req.specifier}")
    assert not problems, "run `make lock`: " + "; ".join(problems)


def test_roles_are_subsets_at_the_tested_versions():
    tested = _lock("test")
    for role in LOCKED_ROLES:
        drift = {n: v for n, v in _lock(role).items() if tested.get(n) != v}
        assert not drift, f"requirements/{role}.txt differs from what the tests ran: {drift}"


def test_the_serving_image_lock_has_no_training_or_test_tools():
    serve = _lock("serve")
    # ONNX Runtime serves; torch is training's (and the GPU image's, installed on top: Dockerfile)
    assert "onnxruntime" in serve and not {"torch", "matplotlib", "ipykernel", "pytest", "mypy", "tqdm"} & set(serve)
