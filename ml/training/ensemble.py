"""``inkbus ensemble``: join an image-CNN artifact and a stroke-sequence artifact into one serving artifact.

The members are rebuilt from their own artifacts' weights and configs, so the ensemble needs no
retraining; its metadata keeps each member's training record for the model card.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ml import sequence
from ml.artifact import load_artifact, save_artifact
from ml.training.net import Exported, InkNet, count_parameters
from ml.training.seqnet import InkEnsemble, SeqNet

MEMBER_KEYS = ("version", "parameters", "train_minutes", "device", "command", "history", "config", "data")


def _weights(path: Path) -> dict:
    return torch.jit.load(str(path), map_location="cpu").state_dict()


def _member_meta(meta: dict) -> dict:
    return {k: meta[k] for k in MEMBER_KEYS if k in meta}


def _image_net(path: Path, meta: dict) -> torch.nn.Module:
    net = Exported(InkNet(width=int(meta.get("config", {}).get("width", 32))))
    net.load_state_dict(_weights(path))
    return net


def _seq_net(path: Path, meta: dict) -> torch.nn.Module:
    net = SeqNet(width=int(meta.get("config", {}).get("width", 64)))
    net.load_state_dict(_weights(path))
    return net


def build_ensemble(
    image_paths: list[Path], seq_paths: list[Path], out: Path, version: str, command: str, image_weight: float = 0.5
) -> dict:
    """One artifact from image-CNN artifacts and sequence artifacts (at least one of each)."""
    images = [(Path(p), load_artifact(p)) for p in image_paths]
    seqs = [(Path(p), load_artifact(p)) for p in seq_paths]
    if not images or not seqs:
        raise ValueError("an ensemble needs at least one image model and one sequence model")
    wrong = [f"{p} (inputs {list(a.inputs)})" for p, a in images if a.inputs != ("image",)]
    wrong += [f"{p} (inputs {list(a.inputs)})" for p, a in seqs if a.inputs != ("sequence",)]
    if wrong:  # a sequence model given as --image, an ensemble given as a member, ...
        raise ValueError(f"--image takes image models and --seq sequence models: {', '.join(wrong)}")
    model = InkEnsemble(
        [_image_net(p, a.meta) for p, a in images], [_seq_net(p, a.meta) for p, a in seqs], image_weight
    ).eval()
    members = [_member_meta(a.meta) | {"kind": "image"} for _, a in images]
    members += [_member_meta(a.meta) | {"kind": "sequence"} for _, a in seqs]
    first = images[0][1].meta
    meta = {
        "version": version,
        "inputs": ["image", "sequence"],
        "sequence_version": sequence.SEQUENCE_VERSION,
        "seq_len": sequence.SEQ_LEN,
        "parameters": count_parameters(model),
        "image_weight": image_weight,
        "members": members,
        "train_minutes": round(sum(float(m.get("train_minutes", 0)) for m in members), 2),
        "device": first.get("device", "cpu"),
        "command": command,
        "data": first.get("data", {}),
        "config": {"seed": first.get("config", {}).get("seed", "?")},
        "history": [],
    }
    save_artifact(model, out, meta)
    return meta
