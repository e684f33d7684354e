"""``inkbus train --arch seq``: the stroke-sequence model, trained on ink only (images have no pen path).

Only what differs from the CNN lives here (the model, its batches, its validation, its artifact's
declared inputs); the seeded, resumable, scheduled and logged loop is ``train.fit``, shared by both.
"""

from __future__ import annotations

import numpy as np

from ml import sequence
from ml.training import metrics
from ml.training.augment import augment_strokes
from ml.training.recipe import Recipe, TrainConfig, predict_proba
from ml.training.seqnet import SeqNet
from ml.training.sources import Sources

SEQ_META = {"inputs": ["sequence"], "sequence_version": sequence.SEQUENCE_VERSION, "seq_len": sequence.SEQ_LEN}


def seq_batches(src: Sources, batch_size: int, rng: np.random.Generator, strength: float, targets=None):
    """(float sequences, labels) batches over the ink training set, freshly augmented.

    With ``targets`` (one probability row per training sample) the batches carry those soft targets in place
    of the labels; the loop's cross-entropy takes either.
    """
    order = rng.permutation(len(src.ink_train))
    for start in range(0, len(order), batch_size):
        sel = order[start : start + batch_size]
        inks = [augment_strokes(src.ink_train[j], rng, strength) for j in sel]
        yield sequence.sequence_batch(inks), (src.ink_train_y[sel] if targets is None else targets[sel])


def seq_recipe(cfg: TrainConfig, src: Sources) -> Recipe:
    val_seq = sequence.sequence_batch(src.ink_val)  # the validation ink is not augmented: featurise it once

    def evaluate(model, device) -> dict:
        p = predict_proba(model, val_seq, device)
        return {f"val_{k}": v for k, v in metrics.summary(p, src.ink_val_y).items()}

    targets, meta = None, dict(SEQ_META)
    if cfg.teacher:
        from ml.training.distill import soft_targets

        targets, meta["teacher"] = soft_targets(cfg.teacher, src.ink_train, src.ink_train_y, cfg.distill_weight)
    return Recipe(
        model=SeqNet(width=cfg.width, dropout=cfg.dropout),
        steps=-(-len(src.ink_train) // cfg.batch_size),
        batches=lambda rng: seq_batches(src, cfg.batch_size, rng, cfg.aug_strength, targets),
        evaluate=evaluate,
        meta=meta,
    )
