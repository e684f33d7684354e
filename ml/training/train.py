"""``inkbus train``: mixes UNIPEN ink (rendered on the fly) with MNIST and EMNIST images."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ml import metadata
from ml.artifact import save_artifact
from ml.raster import render_batch
from ml.training import data as D
from ml.training.augment import augment_strokes, random_radius
from ml.training.net import Exported, InkNet, count_parameters


@dataclass
class TrainConfig:
    data_dir: Path
    out: Path
    checkpoint_dir: Path
    epochs: int = 8
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    mnist_per_epoch: int = 15000
    emnist_per_epoch: int = 25000
    max_minutes: float = 0.0  # 0 = no limit; otherwise stop (and export) after this much time
    seed: int = 0
    device: str = "auto"
    dry_run: bool = False
    val_fraction: float = 0.1
    version: str = field(default_factory=lambda: time.strftime("inknet-%Y%m%d-%H%M"))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Sources:
    """Everything the training loop draws from, split writer-disjoint for the ink."""

    def __init__(self, cfg: TrainConfig):
        d = Path(cfg.data_dir)
        strokes, labels, writers = D.load_ink_samples(d / "unipen" / "ink.jsonl.gz")
        val = D.writer_split(writers, cfg.val_fraction)
        self.ink_train = [s for s, v in zip(strokes, val, strict=True) if not v]
        self.ink_train_y = labels[~val]
        self.ink_val = [s for s, v in zip(strokes, val, strict=True) if v]
        self.ink_val_y = labels[val]
        self.mnist_x, self.mnist_y, self.mnist_test_x, self.mnist_test_y = D.load_mnist_npz(d / "mnist" / "mnist.npz")
        self.emnist_x, self.emnist_y = D.load_emnist_npz(d / "emnist" / "emnist_byclass_test.npz")
        if cfg.dry_run:
            self.ink_train, self.ink_train_y = self.ink_train[:512], self.ink_train_y[:512]
            self.ink_val, self.ink_val_y = self.ink_val[:256], self.ink_val_y[:256]
            self.mnist_test_x, self.mnist_test_y = self.mnist_test_x[:256], self.mnist_test_y[:256]


def _shift_images(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random one-pixel shifts for the image sources (their strokes are already varied)."""
    out = np.empty_like(x)
    for i, (dy, dx) in enumerate(rng.integers(-1, 2, size=(len(x), 2))):
        out[i] = np.roll(np.roll(x[i], dy, axis=0), dx, axis=1)
    return out


def epoch_batches(src: Sources, cfg: TrainConfig, rng: np.random.Generator):
    """Yield (uint8 images, labels) batches: ink rendered with fresh augmentation every epoch."""
    n_ink = len(src.ink_train)
    n_m = 0 if cfg.dry_run else cfg.mnist_per_epoch
    n_e = 0 if cfg.dry_run else cfg.emnist_per_epoch
    kinds = np.concatenate([np.zeros(n_ink, int), np.ones(n_m, int), np.full(n_e, 2)])
    idx = np.concatenate(
        [
            rng.permutation(n_ink),
            rng.choice(len(src.mnist_x), n_m, replace=False),
            rng.choice(len(src.emnist_x), n_e, replace=False),
        ]
    )
    order = rng.permutation(len(kinds))
    for start in range(0, len(order), cfg.batch_size):
        sel = order[start : start + cfg.batch_size]
        images, labels = [], []
        ink_sel = idx[sel][kinds[sel] == 0]
        if len(ink_sel):
            inks = [augment_strokes(src.ink_train[i], rng) for i in ink_sel]
            images.append(render_batch(inks, random_radius(rng, len(inks))))
            labels.append(src.ink_train_y[ink_sel])
        for kind, xs, ys in ((1, src.mnist_x, src.mnist_y), (2, src.emnist_x, src.emnist_y)):
            s = idx[sel][kinds[sel] == kind]
            if len(s):
                images.append(_shift_images(xs[s], rng))
                labels.append(ys[s])
        yield np.concatenate(images), np.concatenate(labels)


@torch.no_grad()
def predict_proba(model: torch.nn.Module, images: np.ndarray, device: torch.device, bs: int = 512) -> np.ndarray:
    model.eval()
    out = [
        F.softmax(model(torch.from_numpy(images[i : i + bs]).to(device)), dim=1).cpu().numpy()
        for i in range(0, len(images), bs)
    ]
    return np.concatenate(out) if out else np.zeros((0, metadata.NUM_CLASSES), np.float32)


def evaluate(model, src: Sources, device) -> dict:
    p = predict_proba(model, render_batch(src.ink_val), device)
    pm = predict_proba(model, src.mnist_test_x, device)[:, :10]
    return {
        "unipen_val_top1": float((p.argmax(1) == src.ink_val_y).mean()),
        "mnist_test_top1": float((pm.argmax(1) == src.mnist_test_y).mean()),
    }


def train(cfg: TrainConfig, log=print) -> dict:
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = pick_device(cfg.device)
    src = Sources(cfg)
    model = Exported(InkNet()).to(device)
    epochs = 1 if cfg.dry_run else cfg.epochs
    steps_per_epoch = math.ceil(
        (len(src.ink_train) + (0 if cfg.dry_run else cfg.mnist_per_epoch + cfg.emnist_per_epoch)) / cfg.batch_size
    )
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=epochs * steps_per_epoch)
    ckpt = Path(cfg.checkpoint_dir) / "last.pt"
    start_epoch, history = 0, []
    if ckpt.exists() and not cfg.dry_run:
        state = torch.load(ckpt, map_location=device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start_epoch, history = state["epoch"] + 1, state["history"]
        rng = np.random.default_rng(cfg.seed + start_epoch)
        log(f"resumed from {ckpt} at epoch {start_epoch}")
    t0 = time.monotonic()
    log(f"training {count_parameters(model):,} parameters on {device}, {len(src.ink_train):,} ink samples")
    for epoch in range(start_epoch, epochs):
        model.train()
        bar = tqdm(
            epoch_batches(src, cfg, rng), total=steps_per_epoch, desc=f"epoch {epoch + 1}/{epochs}", disable=None
        )
        for images, labels in bar:
            x = torch.from_numpy(images).to(device)
            y = torch.from_numpy(labels).to(device)
            loss = F.cross_entropy(model(x), y, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")
        metrics = {"epoch": epoch + 1, "minutes": (time.monotonic() - t0) / 60, **evaluate(model, src, device)}
        history.append(metrics)
        log(json.dumps(metrics))
        if not cfg.dry_run:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            torch.save(
                {
                    "model": model.state_dict(),
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "epoch": epoch,
                    "history": history,
                },
                ckpt,
            )
        if cfg.max_minutes and (time.monotonic() - t0) / 60 > cfg.max_minutes:
            log(f"time budget of {cfg.max_minutes} min reached after epoch {epoch + 1}")
            break
    model.cpu()
    meta = {
        "version": cfg.version,
        "parameters": count_parameters(model),
        "history": history,
        "config": {k: str(v) for k, v in asdict(cfg).items()},
    }
    save_artifact(model, cfg.out, meta)
    log(f"wrote {cfg.out}")
    return meta
