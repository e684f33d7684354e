"""Ink -> a fixed-length point sequence: the stroke-sequence model's input, in training and serving.

The image loses what the pen did: stroke order, direction and which parts were lifted. A cursive
``T`` and a ``J`` render alike but are drawn in opposite directions. The sequence keeps that.

The ink is scaled by its bounding box (aspect ratio kept, centred on the box), and the pen-down
path is resampled at ``SEQ_LEN`` points spread over the strokes by arc length (every stroke keeps at
least one point, so an ``i``'s dot survives). Each point carries five channels:
x, y, dx, dy (the step from the previous point) and a pen-lift flag (1 where a new stroke starts).
"""

from __future__ import annotations

import numpy as np

from ml.ink import MIN_EXTENT

SEQ_LEN = 64
SEQ_CHANNELS = 5
# Features are about unit scale; below this a value is rounding noise. Flushed to zero because a float32
# subnormal (an ink with a 1e-310 wiggle yields one) made the forward pass of its batch 100x slower.
_NOISE = 1e-12
# Bump when the features change in a way a trained model would notice.
SEQUENCE_VERSION = "seq-v1"


def _arc_length(q: np.ndarray) -> float:
    # cumsum, not sum: a left-to-right total, bit for bit what sequence_batch's reduceat computes, so a
    # tie in the allocation (two equal strokes) breaks the same way in both
    return float(np.cumsum(np.hypot(*np.diff(q, axis=0).T))[-1]) if len(q) > 1 else 0.0


def _resample(p: np.ndarray, k: int) -> np.ndarray:
    if len(p) == 1 or k == 1:
        return np.repeat(p[:1], k, axis=0) if len(p) == 1 else p[[0]]
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(p, axis=0).T))])
    if arc[-1] == 0.0:
        return np.repeat(p[:1], k, axis=0)
    s = np.linspace(0.0, arc[-1], k)
    return np.stack([np.interp(s, arc, p[:, 0]), np.interp(s, arc, p[:, 1])], axis=1)


def ink_to_sequence(strokes: list[np.ndarray], length: int = SEQ_LEN) -> np.ndarray:
    """One validated ink (list of (n, 2) arrays) -> float32 (length, SEQ_CHANNELS)."""
    if len(strokes) > length:  # more strokes than points: keep the longest ones, in drawing order
        strokes = _longest(strokes, length)
    pts = np.concatenate(strokes)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    extent = float((hi - lo).max())
    extent = extent if extent > MIN_EXTENT else 1.0  # a (near) dot: no shape to normalise
    centre = (lo + hi) / 2
    norm = [(s - centre) / extent for s in strokes]
    lengths = np.array([_arc_length(q) for q in norm])
    alloc = _allocate(lengths, np.zeros(len(norm), np.int64), 1, length)
    xy = np.concatenate([_resample(q, k) for q, k in zip(norm, alloc, strict=True)])
    lift = np.zeros(length, np.float32)
    lift[np.cumsum(alloc)[:-1]] = 1.0
    d = np.diff(xy, axis=0, prepend=xy[:1])
    out = np.empty((length, SEQ_CHANNELS), np.float32)
    out[:, :2] = xy
    out[:, 2:4] = d * 8.0  # a step of 1/8 of the ink's size is about unit scale
    out[:, 4] = lift
    out[np.abs(out) < _NOISE] = 0.0
    return out


def sequence_batch(batch: list[list[np.ndarray]], length: int = SEQ_LEN) -> np.ndarray:
    """Validated inks -> float32 (N, length, SEQ_CHANNELS); the same numbers as ``ink_to_sequence`` per ink.

    Vectorised over the whole batch (a handful of numpy calls instead of a Python loop per stroke),
    because it runs on the worker's hot path beside the rasteriser.
    """
    n = len(batch)
    if not n:
        return np.zeros((0, length, SEQ_CHANNELS), np.float32)
    if n == 1:  # the vectorised set-up costs more than it saves on one ink
        return ink_to_sequence(batch[0], length)[None]
    inks = [s if len(s) <= length else _longest(s, length) for s in batch]
    strokes = [s for ink in inks for s in ink]
    ink_of_stroke = np.repeat(np.arange(n), [len(ink) for ink in inks])
    sizes = np.fromiter((len(s) for s in strokes), np.int64, len(strokes))
    pts = np.concatenate(strokes).astype(np.float64)
    stroke_of_point = np.repeat(np.arange(len(strokes)), sizes)
    ink_of_point = ink_of_stroke[stroke_of_point]
    ink_starts = np.concatenate([[0], np.cumsum(np.bincount(ink_of_point, minlength=n))[:-1]])
    lo, hi = np.minimum.reduceat(pts, ink_starts), np.maximum.reduceat(pts, ink_starts)
    extent = (hi - lo).max(axis=1)
    extent[extent <= MIN_EXTENT] = 1.0
    q = (pts - ((lo + hi) / 2)[ink_of_point]) / extent[ink_of_point, None]
    seg = np.hypot(*np.diff(q, axis=0).T)
    seg[stroke_of_point[1:] != stroke_of_point[:-1]] = 0.0  # the jump to the next stroke is not drawn
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    # per stroke, not as differences of ``cum``: those would carry the rounding of every earlier ink
    lengths = np.add.reduceat(np.append(seg, 0.0), starts)
    alloc = _allocate(lengths, ink_of_stroke, n, length)
    # one monotone coordinate for the whole batch: a unit gap between strokes keeps them apart
    coord = cum + stroke_of_point
    first = np.concatenate([[0], np.cumsum(alloc)[:-1]])
    sample_stroke = np.repeat(np.arange(len(strokes)), alloc)
    rank = np.arange(n * length) - first[sample_stroke]
    frac = rank / np.maximum(alloc - 1, 1)[sample_stroke]
    where = coord[starts][sample_stroke] + frac * lengths[sample_stroke]
    xy = np.stack([np.interp(where, coord, q[:, 0]), np.interp(where, coord, q[:, 1])], axis=1).reshape(n, length, 2)
    out = np.empty((n, length, SEQ_CHANNELS), np.float32)
    out[:, :, :2] = xy
    out[:, :, 2:4] = np.diff(xy, axis=1, prepend=xy[:, :1]) * 8.0
    lift = np.zeros(n * length, np.float32)
    new_ink = np.concatenate([[True], ink_of_stroke[1:] != ink_of_stroke[:-1]])
    lift[first[~new_ink]] = 1.0
    out[:, :, 4] = lift.reshape(n, length)
    out[np.abs(out) < _NOISE] = 0.0
    return out


def _longest(strokes: list[np.ndarray], length: int) -> list[np.ndarray]:
    keep = sorted(np.argsort([-len(s) for s in strokes], kind="stable")[:length])
    return [strokes[i] for i in keep]


def _allocate(lengths: np.ndarray, ink: np.ndarray, n: int, total: int) -> np.ndarray:
    """Points per stroke for ``n`` inks at once (``ink``: each stroke's ink): proportional to length, at
    least one each, ``total`` per ink; the rounding goes to an ink's longest stroke, and an ink with no
    length at all spreads its points evenly."""
    count = np.bincount(ink, minlength=n)
    whole = np.bincount(ink, weights=lengths, minlength=n)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    rank = np.arange(len(ink)) - first[ink]
    base = total // count
    even = base[ink] + (rank < (total - base * count)[ink])  # no length at all: spread evenly
    share = np.floor(lengths / np.where(whole > 0, whole, 1.0)[ink] * (total - count)[ink]).astype(np.int64) + 1
    alloc = np.where(whole[ink] > 0, np.maximum(1, share), even)
    longest = np.lexsort((-lengths, ink))[first]  # the first longest stroke of each ink, as np.argmax picks
    has_length = whole > 0
    alloc[longest[has_length]] += (total - np.bincount(ink, weights=alloc, minlength=n).astype(np.int64))[has_length]
    return alloc
