"""``inkbus train``: mixes UNIPEN ink (rendered on the fly) with MNIST and EMNIST images.

Seeded, resumable (a checkpoint after every epoch; an interrupted run continues where it stopped
and draws the same batches it would have), logged as JSON lines, and exported as the serving
artifact with its class map and preprocessing version inside.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ml.artifact import save_artifact
from ml.raster import render_batch
from ml.training import metrics
from ml.training.net import Exported, InkNet, count_parameters
from ml.training.recipe import Recipe, TrainConfig, predict_proba
from ml.training.schedule import StepSchedule, TimeSchedule
from ml.training.sources import Sources, epoch_batches, steps_per_epoch


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def evaluate(model, src: Sources, device) -> dict:
    """Writer-disjoint UNIPEN validation (card figures) and MNIST test among the ten digits."""
    p = predict_proba(model, render_batch(src.ink_val), device)
    pm = predict_proba(model, src.mnist_test_x, device)[:, :10]
    out = {f"val_{k}": v for k, v in metrics.summary(p, src.ink_val_y).items()}
    out["mnist_test_top1"] = float((pm.argmax(1) == src.mnist_test_y).mean()) if len(pm) else float("nan")
    return out


class _Log:
    """Human lines to ``echo``; machine records appended to the JSON-lines training log."""

    def __init__(self, path: Path, echo):
        self.path, self.echo = path, echo
        path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, **rec) -> None:
        # NaN (a category absent from a tiny split) is not JSON: write null instead
        rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **{k: _finite(v) for k, v in rec.items()}}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, default=str) + "\n")
        self.echo(json.dumps(rec, default=str))


def _initial_weights(path: Path, model: torch.nn.Module) -> dict:
    """Weights from an exported artifact (TorchScript) or from a training checkpoint.

    An ensemble artifact gives its first member whose weights fit ``model`` (``seq_nets.0.`` for a sequence
    model, ``image_nets.0.`` for a CNN): fine-tuning or distilling starts from the member that is served.
    """
    try:
        state = torch.jit.load(str(path), map_location="cpu").state_dict()
    except RuntimeError:  # not TorchScript: a checkpoint written by this loop
        state = torch.load(path, map_location="cpu", weights_only=False)["model"]
    wanted = model.state_dict()
    if set(wanted) <= set(state):
        return state
    prefixes = sorted({k[: -len(w)] for k in state for w in wanted if k.endswith("." + w)})
    for prefix in prefixes:
        found = {w: state[prefix + w] for w in wanted if prefix + w in state}
        if len(found) == len(wanted) and all(found[w].shape == wanted[w].shape for w in wanted):
            return found
    raise ValueError(f"{path} holds no weights that fit this architecture")


def _prepare(cfg: TrainConfig, model: torch.nn.Module, total_steps: int, device: torch.device):
    """Initial weights, device, optimiser and learning-rate schedule: the same for every architecture."""
    if cfg.init_from:
        model.load_state_dict(_initial_weights(Path(cfg.init_from), model))
    model = model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.minutes > 0 and not cfg.dry_run:
        return model, opt, TimeSchedule(opt, cfg.lr, cfg.minutes)
    return model, opt, StepSchedule(opt, cfg.lr, total_steps)


def _resume(ckpt: Path, model, opt, sched, device) -> tuple[int, list, float]:
    state = torch.load(ckpt, map_location=device, weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    return state["epoch"] + 1, state["history"], state.get("minutes", 0.0)


def _save_checkpoint(ckpt: Path, model, opt, sched, **extra) -> None:
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    tmp = ckpt.with_suffix(".tmp")  # write then rename: a run killed mid-save keeps its previous checkpoint
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), **extra}, tmp)
    tmp.replace(ckpt)


def _train_epoch(model, opt, sched, batches, total: int, desc: str, cfg: TrainConfig, device) -> float:
    model.train()
    bar = tqdm(batches, total=total, desc=desc, disable=None, mininterval=2.0)
    losses = []
    for images, labels in bar:
        x = torch.from_numpy(images).to(device, non_blocking=True)
        y = torch.from_numpy(labels).to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            loss = F.cross_entropy(model(x), y, label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        go_on = sched.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if not go_on:
            break
    return float(np.mean(losses)) if losses else float("nan")


def train(cfg: TrainConfig, echo=print) -> dict:
    seed_everything(cfg.seed)
    t_load = time.monotonic()
    src = Sources(cfg.data_dir, cfg.val_fraction, cfg.dry_run, cfg.calib_fraction)
    if cfg.arch == "seq":
        from ml.training.seqtrain import seq_recipe

        recipe = seq_recipe(cfg, src)
    else:
        recipe = Recipe(
            model=Exported(InkNet(width=cfg.width, dropout=cfg.dropout)),
            steps=steps_per_epoch(src, cfg.mix, cfg.batch_size),
            batches=lambda rng: epoch_batches(src, cfg.mix, cfg.batch_size, rng, cfg.aug_strength),
            evaluate=lambda model, device: evaluate(model, src, device),
            channels_last=cfg.bf16,
        )
    return fit(cfg, src, recipe, echo, t_load)


def fit(cfg: TrainConfig, src: Sources, recipe: Recipe, echo, t_load: float) -> dict:
    """The loop every architecture shares: resume, epochs, checkpoints, the log, the exported artifact."""
    device = pick_device(cfg.device)
    log = _Log(Path(cfg.log_path or Path(cfg.out).with_suffix(".train.jsonl")), echo)
    epochs = 1 if cfg.dry_run else cfg.epochs
    model, opt, sched = _prepare(cfg, recipe.model, epochs * recipe.steps, device)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    ckpt = Path(cfg.checkpoint_dir) / "last.pt"
    start_epoch, history, minutes_before = 0, [], 0.0
    if cfg.resume and not cfg.dry_run and ckpt.exists():  # a dry run never picks up a real run's state
        start_epoch, history, minutes_before = _resume(ckpt, model, opt, sched, device)
        echo(f"resumed from {ckpt} at epoch {start_epoch + 1}")
    t0 = time.monotonic()
    log.record(
        event="start",
        arch=cfg.arch,
        parameters=count_parameters(model),
        device=str(device),
        load_seconds=round(t0 - t_load, 1),
        data=src.describe(),
        config=_config_dict(cfg),
    )
    for epoch in range(start_epoch, epochs):
        # one generator per epoch, derived from (seed, epoch): a resumed run draws the same batches
        rng = np.random.default_rng([cfg.seed, epoch])
        desc = f"epoch {epoch + 1}/{epochs}"
        loss = _train_epoch(model, opt, sched, recipe.batches(rng), recipe.steps, desc, cfg, device)
        minutes = minutes_before + (time.monotonic() - t0) / 60
        rec = {"epoch": epoch + 1, "minutes": round(minutes, 2), "train_loss": loss, **recipe.evaluate(model, device)}
        history.append(rec)
        log.record(event="epoch", **rec)
        _save_checkpoint(ckpt, model, opt, sched, epoch=epoch, history=history, minutes=minutes)
        if sched.done() or (cfg.max_minutes and (time.monotonic() - t0) / 60 > cfg.max_minutes):
            echo(f"time budget reached after epoch {epoch + 1}")
            break
    model = model.cpu().to(memory_format=torch.contiguous_format)  # serving gets plain fp32 weights
    meta = {
        **recipe.meta,
        "version": cfg.version,
        "parameters": count_parameters(model),
        "history": history,
        "train_minutes": round(minutes_before + (time.monotonic() - t0) / 60, 2),
        "device": str(device),
        "command": cfg.command,
        "data": src.describe(),
        "config": _config_dict(cfg),
    }
    save_artifact(model, cfg.out, meta)
    log.record(event="exported", path=str(cfg.out), version=cfg.version)
    return meta


def _finite(v):
    return None if isinstance(v, float) and not np.isfinite(v) else v


def _config_dict(cfg: TrainConfig) -> dict:
    return {k: (v if isinstance(v, (int, float, bool, dict)) else str(v)) for k, v in asdict(cfg).items()}
