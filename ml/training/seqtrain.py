"""``inkbus train --arch seq``: the stroke-sequence model, trained on ink only (images have no pen path).

Same conventions as the CNN's loop (``train.py``): seeded, resumable, time- or step-scheduled, a
JSON-lines log, and an artifact whose metadata says which inputs it takes.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ml import sequence
from ml.artifact import save_artifact
from ml.training import metrics
from ml.training.augment import augment_strokes
from ml.training.net import count_parameters
from ml.training.schedule import StepSchedule, TimeSchedule
from ml.training.seqnet import SeqNet
from ml.training.sources import Sources
from ml.training.train import (
    TrainConfig,
    _config_dict,
    _initial_weights,
    _Log,
    _resume,
    _save_checkpoint,
    _train_epoch,
    pick_device,
    seed_everything,
)

SEQ_META = {"inputs": ["sequence"], "sequence_version": sequence.SEQUENCE_VERSION, "seq_len": sequence.SEQ_LEN}


def seq_batches(src: Sources, batch_size: int, rng: np.random.Generator, strength: float):
    """(float sequences, labels) batches over the ink training set, freshly augmented."""
    order = rng.permutation(len(src.ink_train))
    for start in range(0, len(order), batch_size):
        sel = order[start : start + batch_size]
        inks = [augment_strokes(src.ink_train[j], rng, strength) for j in sel]
        yield sequence.sequence_batch(inks), src.ink_train_y[sel]


@torch.no_grad()
def seq_proba(model: torch.nn.Module, seqs: np.ndarray, device: torch.device, bs: int = 1024) -> np.ndarray:
    model.eval()
    out = [
        F.softmax(model(torch.from_numpy(seqs[i : i + bs]).to(device)), 1).cpu().numpy()
        for i in range(0, len(seqs), bs)
    ]
    return np.concatenate(out) if out else np.zeros((0, 62), np.float32)


def train_seq(cfg: TrainConfig, echo=print) -> dict:
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    log = _Log(Path(cfg.log_path or Path(cfg.out).with_suffix(".train.jsonl")), echo)
    src = Sources(cfg.data_dir, cfg.val_fraction, cfg.dry_run)
    val_seq = sequence.sequence_batch(src.ink_val)
    epochs = 1 if cfg.dry_run else cfg.epochs
    steps = -(-len(src.ink_train) // cfg.batch_size)
    model = SeqNet(width=cfg.width, dropout=cfg.dropout)
    if cfg.init_from:
        model.load_state_dict(_initial_weights(Path(cfg.init_from)))
    model = model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    use_time = cfg.minutes > 0 and not cfg.dry_run
    sched = TimeSchedule(opt, cfg.lr, cfg.minutes) if use_time else StepSchedule(opt, cfg.lr, epochs * steps)
    ckpt = Path(cfg.checkpoint_dir) / "last.pt"
    start_epoch, history, minutes_before = 0, [], 0.0
    if cfg.resume and not cfg.dry_run and ckpt.exists():
        start_epoch, history, minutes_before = _resume(ckpt, model, opt, sched, device)
        echo(f"resumed from {ckpt} at epoch {start_epoch + 1}")
    t0 = time.monotonic()
    log.record(event="start", arch="seq", parameters=count_parameters(model), device=str(device), data=src.describe())
    for epoch in range(start_epoch, epochs):
        rng = np.random.default_rng([cfg.seed, epoch])
        batches = seq_batches(src, cfg.batch_size, rng, cfg.aug_strength)
        loss = _train_epoch(model, opt, sched, batches, steps, f"epoch {epoch + 1}/{epochs}", cfg, device)
        minutes = minutes_before + (time.monotonic() - t0) / 60
        p = seq_proba(model, val_seq, device)
        val = {f"val_{k}": v for k, v in metrics.summary(p, src.ink_val_y).items()}
        rec = {"epoch": epoch + 1, "minutes": round(minutes, 2), "train_loss": loss, **val}
        history.append(rec)
        log.record(event="epoch", **rec)
        _save_checkpoint(ckpt, model, opt, sched, epoch=epoch, history=history, minutes=minutes)
        if sched.done() or (cfg.max_minutes and (time.monotonic() - t0) / 60 > cfg.max_minutes):
            echo(f"time budget reached after epoch {epoch + 1}")
            break
    model = model.cpu()
    meta = {
        **SEQ_META,
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
