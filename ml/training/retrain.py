"""``inkbus retrain``: fine-tune the serving model on the base data plus a learners' snapshot.

Transfer learning from the current weights with the training loop of ``inkbus train`` (``fit``
through ``train``, ``init_from``): the snapshot's training side joins the ink as
``corrections/*.jsonl``, which ``Sources`` already reads. An ensemble (image CNN + stroke-sequence
nets) is fine-tuned member by member, each from its own weights, and joined again with the same
mixing weight; a single-network artifact is fine-tuned as it is.

The candidate's metadata names its parent (version and checksum), its data (the snapshot's version
and checksum) and the command that made it; ``inkbus promote`` decides whether it serves.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from ml.artifact import load_artifact
from ml.metadata import META_NAME
from ml.registry import file_sha256
from ml.training.cascade import rejoin_cascade
from ml.training.ensemble import build_ensemble
from ml.training.sources import Mix
from ml.training.train import TrainConfig, train
from tutor.snapshot import load_manifest

ARCH_OF = {("image",): "cnn", ("sequence",): "seq"}
PREFIX = {"image": "image_nets", "sequence": "seq_nets"}


@dataclass
class Member:
    kind: str  # "image" or "sequence"
    width: int
    init: Path  # weights to start from: an artifact or a checkpoint ({"model": state_dict})
    first: bool = False  # a cascade's first stage, not an ensemble member


@dataclass
class RetrainConfig:
    parent: Path
    snapshot: Path
    base_data: Path
    out: Path
    work: Path
    version: str
    command: str
    epochs: int = 2
    lr: float = 5e-4  # lower than from scratch: move the weights, do not replace them
    device: str = "auto"
    snapshot_weight: int = 1  # copies of the snapshot in the mix: learners' drawings are few
    mix: Mix | None = None
    seed: int = 0
    dry_run: bool = False


def link_data(base: Path, snapshot: Path, into: Path, copies: int) -> Path:
    """A data folder that is ``base`` (linked, not copied) plus the snapshot's training side as corrections."""
    if into.exists():
        shutil.rmtree(into)
    (into / "corrections").mkdir(parents=True)
    for name in ("unipen", "mnist", "emnist"):
        if (Path(base) / name).exists():
            (into / name).symlink_to(Path(base, name).resolve(), target_is_directory=True)
    for i in range(copies):
        (into / "corrections" / f"{snapshot.name}-{i}.jsonl").symlink_to((snapshot / "train.jsonl").resolve())
    return into


def _width(meta: dict, kind: str) -> int:
    return int(meta.get("config", {}).get("width", 32 if kind == "image" else 64))


def _init(state: dict, prefix: str, path: Path) -> Path:
    """The weights under ``prefix`` as a checkpoint ``train``'s ``init_from`` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}}, path)
    return path


def members_of(parent: Path, work: Path) -> tuple[list[Member], float | None]:
    """The networks to fine-tune, each with its starting weights, and the ensemble's image weight (None: single).
    A cascade's are its first stage and its ensemble's members."""
    art = load_artifact(parent)
    if art.inputs in ARCH_OF:
        return [Member(art.inputs[0], _width(art.meta, art.inputs[0]), parent)], None
    state = art.module.state_dict()
    cascade = art.meta.get("cascade")
    root = "second." if cascade else ""
    out, seen = [], {"image": 0, "sequence": 0}
    for meta in art.meta.get("members", []):
        kind = meta["kind"]
        init = _init(state, f"{root}{PREFIX[kind]}.{seen[kind]}.", work / f"init-{kind}-{seen[kind]}.pt")
        out.append(Member(kind, _width(meta, kind), init))
        seen[kind] += 1
    if cascade and out and cascade.get("second_takes", "sequence") == "sequence":  # a first stage of its own
        init = _init(state, "first.", work / "init-first.pt")
        out.append(Member("sequence", _width(cascade["first"], "sequence"), init, first=True))
    if not out:
        raise ValueError(f"{parent} takes {list(art.inputs)} but names no members: cannot fine-tune it")
    return out, float(art.meta.get("image_weight", 0.5))


def amend_meta(path: Path, **fields) -> dict:
    """Add provenance to an exported artifact's metadata (the network is saved unchanged)."""
    extra = {META_NAME: ""}
    module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    meta = {**json.loads(extra[META_NAME]), **fields}
    tmp = path.with_suffix(".amend.tmp")
    torch.jit.save(module, str(tmp), _extra_files={META_NAME: json.dumps(meta, sort_keys=True)})
    tmp.replace(path)
    return meta


def retrain(cfg: RetrainConfig, echo=print) -> dict:
    manifest = load_manifest(cfg.snapshot)  # refuses a snapshot whose data no longer matches its checksum
    parent_meta = load_artifact(cfg.parent).meta
    data = link_data(cfg.base_data, Path(cfg.snapshot), cfg.work / "data", cfg.snapshot_weight)
    members, image_weight = members_of(cfg.parent, cfg.work)
    outs: dict[str, list[Path]] = {"image": [], "sequence": [], "first": []}
    for i, m in enumerate(members):
        out = cfg.out if image_weight is None else cfg.work / f"member-{i}-{m.kind}.pt"
        echo(f"fine-tuning {m.kind} network {i + 1}/{len(members)} from {m.init.name}")
        train(
            TrainConfig(
                data_dir=data,
                out=out,
                checkpoint_dir=cfg.work / f"ckpt-{i}",
                arch="cnn" if m.kind == "image" else "seq",
                width=m.width,
                init_from=m.init,
                epochs=cfg.epochs,
                lr=cfg.lr,
                device=cfg.device,
                seed=cfg.seed,
                dry_run=cfg.dry_run,
                resume=False,
                version=f"{cfg.version}-m{i}" if image_weight is not None else cfg.version,
                command=cfg.command,
                mix=cfg.mix or Mix(),
            ),
            echo=echo,
        )
        outs["first" if m.first else m.kind].append(out)
    if "cascade" in parent_meta and image_weight is not None:
        second = cfg.work / "second.pt"
        build_ensemble(outs["image"], outs["sequence"], second, f"{cfg.version}-second", cfg.command, image_weight)
        first = outs["first"][0] if outs["first"] else None  # None: the ensemble's own member goes first
        rejoin_cascade(first, second, cfg.out, parent_meta, cfg.version, cfg.command)
    elif image_weight is not None:
        build_ensemble(outs["image"], outs["sequence"], cfg.out, cfg.version, cfg.command, image_weight)
    return amend_meta(
        cfg.out,
        parent=parent_meta.get("version"),
        parent_sha256=file_sha256(cfg.parent),
        snapshot={"version": manifest["version"], "sha256": manifest["sha256"], "samples": manifest["samples"]},
        command=cfg.command,
        retrain={"epochs": cfg.epochs, "lr": cfg.lr, "members": len(members), "snapshot_weight": cfg.snapshot_weight},
    )
