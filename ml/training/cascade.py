"""``inkbus cascade``: a pen-path network answers alone when it is sure; the ensemble answers the rest.

Most drawings are easy. The pen-path network (no rendering) is run on every drawing; only where its calibrated top
probability is below the threshold is the ink rendered and the ensemble asked. Two kinds:

- ``MemberCascade``: the first stage is the ensemble's own pen-path member, so the second stage only renders and
  runs the image network, and mixes its probabilities with the first stage's as the ensemble does (the ensemble's
  answer, at the cost of its image half).
- ``InkCascade``: the first stage is a separate, cheaper network (a distilled student); the second runs the whole
  ensemble.

The threshold is chosen on the calibration writers (held out of training, not the validation writers) as the lowest
one at which the cascade is no less accurate than the ensemble alone there, so the saving costs no accuracy by
construction on writers neither network saw.

``forward`` computes both stages for every row and keeps, per row, what serving would answer: training-side code
(``inkbus eval``, ``inkbus calibrate``, distillation) sees exactly the serving semantics. Serving
(``ml.serving.BaseRecognizer.recognize``) runs the stages one after the other and renders only what the second
needs; ``first_logp`` and ``second_logp`` are those stages.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ml import sequence
from ml.artifact import load_artifact, save_artifact
from ml.serving import temperature_of
from ml.training import metrics
from ml.training.net import count_parameters
from ml.training.sources import Sources

THRESHOLDS = np.round(np.arange(0.30, 1.0, 0.01), 2)
MEMBER_KEYS = ("version", "parameters", "train_minutes", "device", "command", "config", "calibration", "teacher")


class InkCascade(nn.Module):
    """uint8 images + pen paths in, calibrated log-probabilities out (each stage with its own temperature)."""

    def __init__(self, first: nn.Module, second: nn.Module, threshold: float, t_first: float, t_second: float):
        super().__init__()
        self.first = first  # pen path only: logits
        self.second = second  # images and pen paths: log-probabilities of the mixed ensemble
        self.log_threshold = math.log(threshold)
        self.t_first = t_first
        self.t_second = t_second

    @torch.jit.export
    def first_logp(self, seq: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.first(seq) / self.t_first, dim=1)

    @torch.jit.export
    def second_logp(self, images: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.second(images, seq) / self.t_second, dim=1)

    def forward(self, images: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
        first = self.first_logp(seq)
        sure = first.amax(dim=1, keepdim=True) >= self.log_threshold
        return torch.where(sure, first, self.second_logp(images, seq))

    @torch.jit.export
    def image_logits(self, images):  # unannotated (TorchScript reads Tensor): the ensemble's method is opaque to mypy
        return self.second.image_logits(images)


class MemberCascade(nn.Module):
    """The ensemble (one image family, one pen-path member) split in two: its pen-path member first; where that is
    unsure, its image networks, mixed with the first stage's probabilities exactly as the ensemble mixes them.
    The second stage takes the first stage's calibrated log-probabilities of its rows, not the pen path."""

    def __init__(self, ensemble, threshold: float, t_first: float, t_second: float, image_weight: float):
        super().__init__()
        self.second = ensemble
        self.seq_net = getattr(ensemble.seq_nets, "0")  # the member itself: one set of weights, shared
        self.log_threshold = math.log(threshold)
        self.t_first = t_first
        self.t_second = t_second
        self.image_weight = image_weight

    @torch.jit.export
    def first_logp(self, seq: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.seq_net(seq) / self.t_first, dim=1)

    @torch.jit.export
    def second_logp(self, images: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
        # softmax(T x log_softmax(z / T)) == softmax(z): the member's own probabilities, as the ensemble mixes them
        p_seq = torch.softmax(first * self.t_first, dim=1)
        p_img = torch.exp(self.image_logits(images))
        w = self.image_weight
        return torch.log_softmax(torch.log(w * p_img + (1.0 - w) * p_seq + 1e-12) / self.t_second, dim=1)

    def forward(self, images: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
        first = self.first_logp(seq)
        sure = first.amax(dim=1, keepdim=True) >= self.log_threshold
        return torch.where(sure, first, self.second_logp(images, first))

    @torch.jit.export
    def image_logits(self, images):  # unannotated, as above
        return self.second.image_logits(images)


def _scores(scores: np.ndarray, y: np.ndarray) -> dict:
    # The metrics rank rows, so log-probabilities serve as well as probabilities.
    return {
        "exact": metrics.accuracy(scores, y),
        "folded": metrics.case_folded_accuracy(scores, y),
        "top3": metrics.topk_accuracy(scores, y, 3),
        **metrics.within_category_accuracy(scores, y),
    }


def choose_threshold(first: np.ndarray, second: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
    """The lowest threshold at which each of the cascade's accuracies on these samples (exact, case-folded, top-3,
    within digits, upper and lower case) is at least the second stage's alone; ``first`` and ``second`` are
    calibrated log-probabilities. NaN (a category with no sample) compares as met."""
    alone = _scores(second, y)
    best = first.max(1)
    for t in THRESHOLDS:
        sure = best >= math.log(t)
        mixed = np.where(sure[:, None], first, second)
        got = _scores(mixed, y)
        if all(not got[k] < alone[k] for k in alone):
            return float(t), {"answered_first": float(sure.mean()), "cascade": got, "second_alone": alone}
    sure = best >= math.log(1.0)
    return 1.0, {"answered_first": float(sure.mean()), "cascade": alone, "second_alone": alone}


def _takes(module: InkCascade | MemberCascade) -> str:
    """What a cascade's second stage takes beside the images: the pen path, or the first stage's output."""
    return "first" if isinstance(module, MemberCascade) else "sequence"


def _batches(inks: list, names: tuple[str, ...], bs: int = 512):
    """The serving feature code's inputs for ``inks``, ``bs`` at a time, as tensors."""
    from ml.serving import model_inputs

    for i in range(0, len(inks), bs):
        yield [torch.from_numpy(x) for x in model_inputs(names, inks[i : i + bs])]


@torch.inference_mode()
def stage_outputs(module: InkCascade | MemberCascade, inks: list) -> tuple[np.ndarray, np.ndarray]:
    """Both stages' calibrated log-probabilities for every ink (what ``forward`` chooses between)."""
    firsts, seconds = [], []
    for images, seq in _batches(inks, ("image", "sequence")):
        first = module.first_logp(seq)
        firsts.append(first.numpy())
        seconds.append(module.second_logp(images, first if _takes(module) == "first" else seq).numpy())
    return np.concatenate(firsts), np.concatenate(seconds)


@torch.inference_mode()
def _first_temperature(module: MemberCascade, src: Sources) -> float:
    """The first stage's temperature on the calibration writers (its log-probabilities at T = 1 differ from its
    logits by a constant per row, which the softmax ignores)."""
    from ml.training.calibrate import fit_temperature

    module.t_first = 1.0
    logp = np.concatenate([module.first_logp(seq).numpy() for (seq,) in _batches(src.ink_calib, ("sequence",))])
    return fit_temperature(logp, src.ink_calib_y)


def _member(meta: dict, kind: str) -> dict:
    return {k: meta[k] for k in MEMBER_KEYS if k in meta} | {"kind": kind}


def _calibration_writers(data_dir: Path | None) -> Sources:
    if data_dir is None:
        raise ValueError("choosing the threshold needs the calibration writers' ink (--data-dir)")
    src = Sources(Path(data_dir))
    if not len(src.ink_calib):
        raise ValueError(f"no calibration writers in {data_dir}")
    return src


def _join(first, second, threshold: float, t_first: float, t_second: float):
    """The cascade module and its first stage's metadata: ``first`` an artifact, or None for the ensemble's member."""
    if first is None:
        weight = float(second.meta.get("image_weight", 0.5))
        module: InkCascade | MemberCascade = MemberCascade(second.module, threshold, t_first, t_second, weight)
        return module.eval(), _member(_seq_member(second.meta), "sequence")
    return InkCascade(first.module, second.module, threshold, t_first, t_second).eval(), _member(first.meta, "sequence")


def build_cascade(
    first_path: Path | None,
    second_path: Path,
    out: Path,
    version: str,
    command: str,
    data_dir: Path | None = None,
    threshold: float | None = None,
    echo=print,
) -> dict:
    """Join a calibrated pen-path network (None: the ensemble's own pen-path member, its temperature fitted on the
    calibration writers) and a calibrated ensemble; choose the threshold on the calibration writers in
    ``data_dir`` unless ``threshold`` is given."""
    t0 = time.monotonic()
    first, second = _stages(first_path, second_path)
    # the writers fit the threshold, and a member's own temperature where they are given
    src = _calibration_writers(data_dir) if threshold is None or (first is None and data_dir) else None
    t_first = temperature_of(first.meta) if first is not None else 1.0
    module, first_meta = _join(first, second, threshold or 0.5, t_first, temperature_of(second.meta))
    if isinstance(module, MemberCascade) and src is not None:
        module.t_first = t_first = _first_temperature(module, src)
    first_meta |= {"calibration": {"temperature": round(t_first, 5)}} if first is None else {}
    fitted: dict = {"given": True}
    if threshold is None and src is not None:
        a, b = stage_outputs(module, src.ink_calib)
        threshold, fitted = choose_threshold(a, b, src.ink_calib_y)
        fitted |= {"split": "calibration writers", "writers": len(src.calib_writers), "samples": len(a)}
        module.log_threshold = math.log(threshold)
    meta = _meta(module, first_meta, second.meta, version, command)
    meta["cascade"] |= {"threshold": threshold, "fitted_on": fitted}
    save_artifact(module, out, meta)
    if "answered_first" in fitted:
        echo(
            f"threshold {threshold:g}: the pen-path network answers {fitted['answered_first']:.1%} of "
            f"{fitted['samples']:,} calibration samples alone; cascade exact {fitted['cascade']['exact']:.2%} / "
            f"folded {fitted['cascade']['folded']:.2%} against the ensemble's {fitted['second_alone']['exact']:.2%} / "
            f"{fitted['second_alone']['folded']:.2%} ({time.monotonic() - t0:.0f} s)"
        )
    return meta


def rejoin_cascade(
    first_path: Path | None, second_path: Path, out: Path, parent: dict, version: str, command: str
) -> dict:
    """Fine-tuned stages joined as ``parent`` (a cascade's metadata) joined its own: same kind, threshold and stage
    temperatures (fine-tuning moves the weights a little; ``inkbus promote`` judges the result)."""
    first, second = _stages(first_path, second_path)
    cascade = parent["cascade"]
    t_first = float(cascade["first"].get("calibration", {}).get("temperature", 1.0))
    t_second = float(cascade["second"].get("calibration", {}).get("temperature", 1.0))
    module, first_meta = _join(first, second, float(cascade["threshold"]), t_first, t_second)
    meta = _meta(module, first_meta | {"calibration": {"temperature": t_first}}, second.meta, version, command)
    meta["cascade"] |= {"threshold": cascade["threshold"], "fitted_on": {"from_parent": parent.get("version")}}
    meta["cascade"]["second"]["calibration"] = {"temperature": t_second}
    save_artifact(module, out, meta)
    return meta


def _seq_member(meta: dict) -> dict:
    members = [m for m in meta.get("members", []) if m.get("kind") == "sequence"]
    if len(members) != 1:
        raise ValueError(f"the ensemble has {len(members)} pen-path members; a cascade on its own member needs one")
    return members[0]


def _stages(first_path: Path | None, second_path: Path):
    first = load_artifact(first_path) if first_path is not None else None
    second = load_artifact(second_path)
    if first is not None and first.inputs != ("sequence",):
        raise ValueError(f"--first takes a pen-path model; {first_path} takes {list(first.inputs)}")
    if second.inputs != ("image", "sequence") or "cascade" in second.meta:
        raise ValueError(f"--second takes an image + pen-path ensemble; {second_path} takes {list(second.inputs)}")
    if first is None:
        _seq_member(second.meta)
    return first, second


def _meta(module: InkCascade | MemberCascade, first: dict, second: dict, version: str, command: str) -> dict:
    # a member first stage's training is already in the ensemble's minutes
    minutes = float(second.get("train_minutes", 0)) + (_takes(module) == "sequence") * float(
        first.get("train_minutes", 0)
    )
    return {
        "version": version,
        "inputs": ["image", "sequence"],
        "sequence_version": sequence.SEQUENCE_VERSION,
        "seq_len": sequence.SEQ_LEN,
        "parameters": count_parameters(module),
        "image_weight": second.get("image_weight"),
        "members": second.get("members", []),
        "cascade": {
            "first": first,
            "second_takes": _takes(module),
            "second": {k: second[k] for k in ("version", "parameters", "calibration", "command") if k in second},
        },
        "train_minutes": round(minutes, 2),
        "device": second.get("device", "cpu"),
        "command": command,
        "data": second.get("data", {}),
        "config": {"seed": second.get("config", {}).get("seed", "?")},
        "history": [],
    }
