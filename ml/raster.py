"""Ink -> 28x28 uint8 image, MNIST style: the one rasteriser used by training and serving.

The character's bounding box is scaled into a 20x20 box keeping its aspect ratio, strokes are
drawn as antialiased round pens (white on black), and the image is translated so that the ink's
centre of mass sits at the image centre.

Why it is fast: every stroke is resampled at a fixed arc-length step (half a pixel), so a
stroke is a chain of pen dabs whose union is the thick line to within 1/32 px. Each dab touches
only a small window of pixels, so the cost follows the ink's length, not the image area, and the
whole batch is drawn with a handful of vectorised numpy calls and one sorted per-pixel maximum
(``max_into``); the pen positions of a whole batch are laid out together too (``batch_to_dabs``).

Why the cost is bounded: an ink's length is not. 4,096 points zig-zagging corner to corner are 115,000
pixels of line, which at half-pixel steps were 230,000 dabs (about 2 s and 250 MB). So each ink has a
budget of ``MAX_DABS`` pen positions: a longer ink is resampled with a proportionally longer step. Real
handwriting needs at most about 280 (UNIPEN), so its renders are unchanged.
"""

from __future__ import annotations

import math

import numpy as np

from ml.ink import MIN_EXTENT
from ml.metadata import BOX_SIZE, IMAGE_SIZE

DEFAULT_RADIUS = 1.3  # half the pen width, in output pixels
_STEP = 0.5  # resampling step along the stroke, in output pixels
MAX_DABS = 512  # pen positions per ink, at most (plus one per stroke): the bound on an ink's rendering cost


def ink_to_dabs(strokes: list[np.ndarray]) -> np.ndarray:
    """Scale into the box, resample, and centre by mass: the pen positions in output pixels.

    Vectorised over the strokes (an ink may have 64), the way ``ml.sequence.sequence_batch`` is: the
    strokes are laid end to end on one monotone coordinate, a unit gap apart, and sampled by one interp.
    """
    pts = np.concatenate(strokes)
    lo = pts.min(axis=0)
    extent = float((pts.max(axis=0) - lo).max())
    scale = BOX_SIZE / extent if extent > MIN_EXTENT else 1.0  # a (near) dot stays a dot
    p = (pts - lo) * scale
    sizes = np.fromiter(map(len, strokes), np.int64, len(strokes))
    stroke_of = np.repeat(np.arange(len(strokes)), sizes)
    seg = np.hypot(*np.diff(p, axis=0).T)
    seg[stroke_of[1:] != stroke_of[:-1]] = 0.0  # the jump to the next stroke is not drawn
    starts = np.cumsum(sizes) - sizes
    lengths = np.add.reduceat(np.append(seg, 0.0), starts)
    # ceil(length / step) + 1 dabs per stroke with length, one for a dot: at most MAX_DABS + len(strokes)
    step = max(_STEP, float(lengths.sum()) / max(MAX_DABS - len(strokes), 1))
    count = np.where(lengths > 0, np.ceil(lengths / step).astype(np.int64) + 1, 1)
    owner = np.repeat(np.arange(len(strokes)), count)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    along = rank * (lengths / np.maximum(count - 1, 1))[owner]  # evenly spaced, both ends included
    coord = np.concatenate([[0.0], np.cumsum(seg)]) + stroke_of
    where = np.minimum(coord[starts][owner] + along, coord[(starts + sizes - 1)[owner]])
    dabs = np.stack([np.interp(where, coord, p[:, 0]), np.interp(where, coord, p[:, 1])], axis=1)
    # dabs are evenly spaced along the ink, so their mean is the centre of mass of the drawn line
    return dabs + (IMAGE_SIZE / 2 - dabs.mean(axis=0))


def batch_to_dabs(batch: list[list[np.ndarray]]) -> list[np.ndarray]:
    """``[ink_to_dabs(strokes) for strokes in batch]``, equal to the last bit, in a few numpy calls per batch.

    A numpy call costs microseconds whatever its size, and ``ink_to_dabs`` makes about forty for one ink; here
    the elementwise steps run once over the whole batch's points. What accumulates along an ink (the running
    length, the interpolation, the centre of mass) still runs per ink, on the same values as there, so that
    no rounding depends on the other inks of the batch."""
    if len(batch) < 2:  # nothing to share the calls with
        return [ink_to_dabs(strokes) for strokes in batch]
    strokes = [s for ink in batch for s in ink]
    n_strokes = np.fromiter(map(len, batch), np.int64, len(batch))
    sizes = np.fromiter(map(len, strokes), np.int64, len(strokes))
    ink_of_stroke = np.repeat(np.arange(len(batch)), n_strokes)
    points = np.add.reduceat(sizes, np.cumsum(n_strokes) - n_strokes)
    first = np.cumsum(points) - points  # each ink's first point
    pts = np.concatenate(strokes)
    lo, hi = np.minimum.reduceat(pts, first, axis=0), np.maximum.reduceat(pts, first, axis=0)
    extent = (hi - lo).max(axis=1)
    scale = np.where(extent > MIN_EXTENT, BOX_SIZE / np.where(extent > MIN_EXTENT, extent, 1.0), 1.0)
    ink_of_point = np.repeat(ink_of_stroke, sizes)
    p = (pts - lo[ink_of_point]) * scale[ink_of_point][:, None]
    stroke_of = np.repeat(np.arange(len(strokes)), sizes)
    seg = np.append(np.hypot(*np.diff(p, axis=0).T), 0.0)
    seg[:-1][stroke_of[1:] != stroke_of[:-1]] = 0.0  # the jump to the next stroke (or ink) is not drawn
    starts = np.cumsum(sizes) - sizes
    lengths = np.add.reduceat(seg, starts)
    bounds = np.cumsum(n_strokes)
    totals = np.array([lengths[b - k : b].sum() for b, k in zip(bounds.tolist(), n_strokes.tolist(), strict=True)])
    step = np.maximum(_STEP, totals / np.maximum(MAX_DABS - n_strokes, 1))[ink_of_stroke]
    count = np.where(lengths > 0, np.ceil(lengths / step).astype(np.int64) + 1, 1)
    owner = np.repeat(np.arange(len(strokes)), count)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    along = rank * (lengths / np.maximum(count - 1, 1))[owner]
    # Running sums start afresh in each ink: one row per ink, padded with zeros at the end (which add nothing),
    # summed along the row one value after another as numpy sums a single ink's
    point_in_ink = np.arange(len(pts)) - np.repeat(first, points)
    rows = np.zeros((len(batch), int(points.max())))
    last = np.append(first[1:], len(pts)) - 1
    inner = np.ones(len(pts), bool)
    inner[last] = False  # a segment leaves every point of an ink but its last
    rows[ink_of_point[inner], point_in_ink[inner] + 1] = seg[inner]
    local = stroke_of - np.repeat(np.cumsum(n_strokes) - n_strokes, n_strokes)[stroke_of]
    coord = np.cumsum(rows, axis=1)[ink_of_point, point_in_ink] + local  # strokes a unit apart, as in ink_to_dabs
    where = np.minimum(coord[starts][owner] + along, coord[(starts + sizes - 1)[owner]])
    per_ink = np.add.reduceat(count, bounds - n_strokes)
    dab_ends = np.cumsum(per_ink).tolist()
    dabs = np.empty((len(where), 2))
    lo_d = 0
    for lo_p, hi_p, hi_d in zip(first.tolist(), (first + points).tolist(), dab_ends, strict=True):
        xp = coord[lo_p:hi_p]
        dabs[lo_d:hi_d, 0] = np.interp(where[lo_d:hi_d], xp, p[lo_p:hi_p, 0])
        dabs[lo_d:hi_d, 1] = np.interp(where[lo_d:hi_d], xp, p[lo_p:hi_p, 1])
        lo_d = hi_d
    return np.split(_centre_each(dabs, per_ink), dab_ends[:-1])


def _centre_each(dabs: np.ndarray, per_ink: np.ndarray) -> np.ndarray:
    """Move each ink's dabs (``per_ink`` of them, in order) so that their mean sits at the image centre, the
    mean taken as ``dabs.mean(axis=0)`` takes it for one ink: down each column in order, then one division."""
    ink_of_dab = np.repeat(np.arange(len(per_ink)), per_ink)
    cols = np.zeros((int(per_ink.max()), len(per_ink), 2))
    cols[np.arange(len(dabs)) - np.repeat(np.cumsum(per_ink) - per_ink, per_ink), ink_of_dab] = dabs
    mean = cols.sum(axis=0) / per_ink[:, None]
    return dabs + (IMAGE_SIZE / 2 - mean)[ink_of_dab]


def render_dabs(dabs: list[np.ndarray], radius: float | np.ndarray = DEFAULT_RADIUS) -> np.ndarray:
    n = len(dabs)
    size = IMAGE_SIZE
    out = np.zeros(n * size * size, dtype=np.float32)
    if n == 0:
        return out.reshape(0, size, size).astype(np.uint8)
    r = np.broadcast_to(np.asarray(radius, dtype=np.float32), (n,))
    counts = np.fromiter((len(d) for d in dabs), dtype=np.int64, count=n)
    pts = np.concatenate(dabs).astype(np.float32)
    owner = np.repeat(np.arange(n), counts)
    pr = np.repeat(r, counts)
    half = float(r.max()) + 0.5  # pen radius plus the one-pixel antialiasing ramp, halved on each side
    width = math.ceil(2 * half) + 1
    offs = np.arange(width, dtype=np.int64)
    base = np.floor(pts - half - 0.5).astype(np.int64)  # first pixel index of each dab's window
    ix = base[:, 0:1] + offs[None, :]  # (D, W)
    iy = base[:, 1:2] + offs[None, :]
    dx2 = (ix + 0.5 - pts[:, 0:1]) ** 2
    dy2 = (iy + 0.5 - pts[:, 1:2]) ** 2
    d = np.sqrt(dy2[:, :, None] + dx2[:, None, :])  # (D, W, W)
    val = np.clip(pr[:, None, None] + 0.5 - d, 0.0, 1.0)
    inside = (iy[:, :, None] >= 0) & (iy[:, :, None] < size) & (ix[:, None, :] >= 0) & (ix[:, None, :] < size)
    flat = owner[:, None, None] * (size * size) + iy[:, :, None] * size + ix[:, None, :]
    keep = inside & (val > 0)
    max_into(out, flat[keep], val[keep])
    return (out * 255.0 + 0.5).astype(np.uint8).reshape(n, size, size)


def max_into(out: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """``np.maximum.at(out, index, values)``, a few times faster: the values sorted by pixel, each pixel's
    maximum taken in one ``reduceat``. A maximum does not depend on the order it is taken in, and casting to
    ``out``'s type keeps order, so every pixel is the same to the bit as ``np.maximum.at`` makes it."""
    if not len(index):
        return
    if out.size < 2**31:  # int32 sorts faster than int64
        index = index.astype(np.int32)
    order = np.argsort(index)
    index, values = index[order], values[order]
    starts = np.flatnonzero(np.concatenate(([True], index[1:] != index[:-1])))
    pixels = index[starts]
    out[pixels] = np.maximum(out[pixels], np.maximum.reduceat(values, starts))


def render_batch(batch: list[list[np.ndarray]], radius: float | np.ndarray = DEFAULT_RADIUS) -> np.ndarray:
    """Render validated inks (lists of (n, 2) arrays) to uint8 images of shape (N, 28, 28).

    ``radius`` may be one value or one per sample (training varies the pen width).
    """
    return render_dabs(batch_to_dabs(batch), radius)


def render(strokes: list[np.ndarray], radius: float = DEFAULT_RADIUS) -> np.ndarray:
    return render_batch([strokes], radius)[0]
