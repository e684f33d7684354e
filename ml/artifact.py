"""Exported model artifacts: a TorchScript module plus ``inkbus.json`` metadata inside the file.

The metadata carries the class map and the preprocessing version, so a worker can check that
it renders ink the way the model was trained, and never needs the training code. ``check_meta`` is
shared with the ONNX artifact (ml/onnx_serving.py), which carries the same metadata; torch is imported
only where a TorchScript file is read or written, so that path never needs it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ml import metadata, sequence
from ml.metadata import META_NAME

if TYPE_CHECKING:
    import torch


class ArtifactError(RuntimeError):
    pass


# A cascade's ONNX graph (``inkbus export-onnx``) runs either stage per call: ONNX Runtime runs every node of a
# graph whatever outputs are asked for, so the stage not wanted is fed an empty batch. Its second stage takes the
# images and either the pen path or the first stage's log-probabilities (``second_takes`` in its metadata).
CASCADE_ONNX_INPUTS = {
    "sequence": ("first_sequence", "image", "sequence"),
    "first": ("first_sequence", "image", "first_logp"),
}
CASCADE_ONNX_OUTPUTS = ("first", "second")


def second_takes(meta: dict) -> str:
    """A cascade's second-stage input beside the images: ``sequence`` or ``first`` (``ml/training/cascade.py``)."""
    takes = meta.get("cascade", {}).get("second_takes", "sequence")
    if takes not in CASCADE_ONNX_INPUTS:
        raise ArtifactError(f"a cascade whose second stage takes {takes!r}: this build knows sequence and first")
    return takes


def onnx_inputs(meta: dict, inputs: tuple[str, ...]) -> tuple[str, ...]:
    """The input names of the ONNX graph exported from an artifact with this metadata and these inputs."""
    return CASCADE_ONNX_INPUTS[second_takes(meta)] if "cascade" in meta else inputs


@dataclass(frozen=True)
class Artifact:
    module: torch.jit.ScriptModule
    classes: tuple[str, ...]
    preprocessing_version: str
    version: str
    meta: dict
    inputs: tuple[str, ...] = ("image",)  # what ``module`` takes, in order: "image" (uint8) and/or "sequence"


def save_artifact(module: torch.nn.Module, path: str | Path, meta: dict) -> Path:
    """Script ``module`` and write it with its metadata. ``meta`` must hold ``version``."""
    full = {
        "classes": "".join(metadata.CLASSES),
        "preprocessing_version": metadata.PREPROCESSING_VERSION,
        "image_size": metadata.IMAGE_SIZE,
        **meta,
    }
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scripted = torch.jit.script(module.eval())
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.jit.save(scripted, str(tmp), _extra_files={META_NAME: json.dumps(full, sort_keys=True)})
    tmp.replace(path)  # atomic: a worker never loads a half-written artifact
    return path


def resave_artifact(art: Artifact, path: str | Path, meta: dict) -> Path:
    """Write an already-scripted artifact's module with new metadata (calibration, a new version name)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.jit.save(art.module, str(tmp), _extra_files={META_NAME: json.dumps(meta, sort_keys=True)})
    tmp.replace(path)
    return path


def load_artifact(path: str | Path) -> Artifact:
    import torch

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"model artifact not found: {path}")
    extra = {META_NAME: ""}
    try:
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as exc:  # torch raises several unrelated types for a bad file
        raise ArtifactError(f"cannot load model artifact {path}: {exc}") from exc
    meta = read_meta(extra[META_NAME], path)
    inputs = check_meta(meta, path)
    module.eval()
    return Artifact(
        module=module,
        classes=tuple(meta["classes"]),
        preprocessing_version=meta["preprocessing_version"],
        version=str(meta.get("version", "unknown")),
        meta=meta,
        inputs=inputs,
    )


def read_meta(text: str, path: Path) -> dict:
    try:
        meta = json.loads(text)
    except ValueError as exc:
        raise ArtifactError(f"artifact {path} has no readable {META_NAME}") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(f"artifact {path}: {META_NAME} is not an object")
    return meta


def check_meta(meta: dict, path: Path) -> tuple[str, ...]:
    """The inputs an artifact declares, once its preprocessing matches this build's; else ``ArtifactError``."""
    if meta.get("preprocessing_version") != metadata.PREPROCESSING_VERSION:
        raise ArtifactError(
            f"artifact {path} expects preprocessing {meta.get('preprocessing_version')!r}, "
            f"this build renders {metadata.PREPROCESSING_VERSION!r}"
        )
    inputs = tuple(meta.get("inputs", ["image"]))
    if not inputs or set(inputs) - {"image", "sequence"}:
        raise ArtifactError(f"artifact {path} takes inputs {list(inputs)}; this build knows image and sequence")
    if "sequence" in inputs and meta.get("sequence_version") != sequence.SEQUENCE_VERSION:
        raise ArtifactError(
            f"artifact {path} expects pen-path features {meta.get('sequence_version')!r}, "
            f"this build makes {sequence.SEQUENCE_VERSION!r}"
        )
    if not meta.get("classes"):
        raise ArtifactError(f"artifact {path}: {META_NAME} has no class map")
    return inputs
