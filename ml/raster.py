"""Ink -> 28x28 uint8 image, MNIST style: the one rasteriser used by training and serving.

The character's bounding box is scaled into a 20x20 box keeping its aspect ratio, strokes are
drawn as antialiased round pens (white on black), and the image is translated so that the ink's
centre of mass sits at the image centre.

Why it is fast: every stroke is resampled at a fixed arc-length step (half a pixel), so a
stroke is a chain of pen dabs whose union is the thick line to within 1/32 px. Each dab touches
only a small window of pixels, so the cost follows the ink's length, not the image area, and the
whole batch is drawn with a handful of vectorised numpy calls and one ``maximum.at`` scatter.

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
    np.maximum.at(out, flat[keep], val[keep])
    return (out * 255.0 + 0.5).astype(np.uint8).reshape(n, size, size)


def render_batch(batch: list[list[np.ndarray]], radius: float | np.ndarray = DEFAULT_RADIUS) -> np.ndarray:
    """Render validated inks (lists of (n, 2) arrays) to uint8 images of shape (N, 28, 28).

    ``radius`` may be one value or one per sample (training varies the pen width).
    """
    return render_dabs([ink_to_dabs(s) for s in batch], radius)


def render(strokes: list[np.ndarray], radius: float = DEFAULT_RADIUS) -> np.ndarray:
    return render_batch([strokes], radius)[0]
