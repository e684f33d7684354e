"""The ink format and its validator: the boundary every payload crosses before it is trusted.

Ink is ``{"strokes": [[[x, y] or [x, y, t], ...], ...]}`` with y growing downward, in any unit.
``validate_ink`` turns untrusted JSON into float arrays or raises ``InkError`` with a stable,
machine-readable code and a message written for a person.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from itertools import chain

import numpy as np

MAX_STROKES = 64
MAX_POINTS = 4096
MAX_BYTES = 64 * 1024
MAX_ABS_COORD = 1e6
# Below this extent (the larger side of the bounding box, in the ink's own units) a drawing is a dot. At the
# largest allowed coordinate a float64 still resolves 1e-6 into ~8,000 steps, far finer than the 20-pixel box
# needs; below it the "shape" is rounding noise, and a subnormal extent would overflow the scale to inf.
MIN_EXTENT = 1e-6


class InkError(ValueError):
    """A payload that is not valid ink. ``code`` is part of the public API (see docs/PROTOCOL.md)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Limits:
    max_strokes: int = MAX_STROKES
    max_points: int = MAX_POINTS
    max_bytes: int = MAX_BYTES
    max_abs_coord: float = MAX_ABS_COORD


DEFAULT_LIMITS = Limits()


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_point(p, si: int, pi: int, limits: Limits) -> None:
    if not isinstance(p, (list, tuple)) or len(p) not in (2, 3):
        raise InkError("invalid_ink", f"stroke {si}, point {pi}: a point is [x, y] or [x, y, t]")
    for v in p:
        if not _is_number(v):
            raise InkError("invalid_ink", f"stroke {si}, point {pi}: coordinates must be numbers")
        if isinstance(v, float) and not math.isfinite(v):  # ints are finite, however large (JSON allows any)
            raise InkError("non_finite", f"stroke {si}, point {pi}: coordinates must be finite numbers")
    if abs(p[0]) > limits.max_abs_coord or abs(p[1]) > limits.max_abs_coord:
        raise InkError(
            "out_of_range", f"stroke {si}, point {pi}: coordinates must lie within ±{limits.max_abs_coord:g}"
        )


_NUMBER_TYPES = {int, float}


def stroke_array(stroke: list, si: int, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """One stroke as an (n, 2) array. The checks run over the whole stroke at C speed; only a stroke
    that fails them is walked point by point, to name the offending point in the error."""
    if not stroke:
        return np.zeros((0, 2), dtype=np.float64)
    if set(map(type, stroke)) <= {list} and (sizes := set(map(len, stroke))) <= {2, 3}:
        flat = list(chain.from_iterable(stroke))
        if set(map(type, flat)) <= _NUMBER_TYPES:  # exact types: a bool is not a number here
            try:
                values = np.array(flat, dtype=np.float64)  # x, y and t alike
            except OverflowError:  # an integer too large for a float
                values = np.array([np.inf])
            if np.isfinite(values).all():
                if len(sizes) == 1:  # every point [x, y] or every point [x, y, t] (the page sends times)
                    arr = values.reshape(len(stroke), -1)[:, :2]
                else:  # some points carry a time: pick x and y by each point's offset in the flat list
                    lens = np.fromiter(map(len, stroke), np.int64, len(stroke))
                    starts = np.cumsum(lens) - lens
                    arr = np.stack([values[starts], values[starts + 1]], axis=1)
                if np.abs(arr).max() <= limits.max_abs_coord:
                    return arr
    for pi, p in enumerate(stroke):
        _check_point(p, si, pi, limits)
    return np.array([(p[0], p[1]) for p in stroke], dtype=np.float64)


SHORT_STROKE = 64  # up to this many points a plain loop checks faster than building arrays (a streamed chunk)


def check_stroke(stroke, si: int, limits: Limits = DEFAULT_LIMITS) -> None:
    """Raise the ``InkError`` ``stroke_array`` would, without building the array: the edge's check of every
    streamed chunk (a few points, many times a second per drawer), where numpy's per-call cost dominates."""
    if type(stroke) is list and len(stroke) <= SHORT_STROKE and _short_stroke_ok(stroke, limits.max_abs_coord):
        return
    stroke_array(stroke, si, limits)  # long, or wrong somewhere: the array path finds and names the point


def _short_stroke_ok(stroke: list, bound: float) -> bool:
    for p in stroke:
        if type(p) is not list or not 2 <= len(p) <= 3:
            return False
        for i, v in enumerate(p):
            kind = type(v)  # exact types: a bool is not a number here
            if kind is not float and kind is not int:
                return False
            if i < 2:
                if not -bound <= v <= bound:  # NaN fails every comparison
                    return False
            elif not -_FLOAT_MAX <= v <= _FLOAT_MAX:  # a time: any finite number a float can hold
                return False
    return True


_FLOAT_MAX = float(np.finfo(np.float64).max)


def _nonempty_strokes(obj, limits: Limits):
    """The ink's non-empty strokes with their indices, after the checks that need no point: the container,
    the stroke count, each stroke's type and the running point count (checked before a stroke's points are)."""
    if not isinstance(obj, dict):
        raise InkError("invalid_ink", 'ink must be a JSON object {"strokes": [...]}')
    strokes = obj.get("strokes")
    if not isinstance(strokes, list):
        raise InkError("invalid_ink", '"strokes" must be a list of strokes')
    if len(strokes) > limits.max_strokes:
        raise InkError("too_many_strokes", f"at most {limits.max_strokes} strokes are accepted, got {len(strokes)}")
    total = 0
    for si, stroke in enumerate(strokes):
        if not isinstance(stroke, list):
            raise InkError("invalid_ink", f"stroke {si} must be a list of points")
        total += len(stroke)
        if total > limits.max_points:
            raise InkError("too_many_points", f"at most {limits.max_points} points are accepted in one ink")
        if stroke:
            yield si, stroke


EMPTY = "the drawing is empty: draw a character first"


def validate_ink(obj, limits: Limits = DEFAULT_LIMITS) -> list[np.ndarray]:
    """Check an ink object and return its strokes as ``float64`` arrays of shape (n, 2).

    Empty strokes are dropped; a drawing with no points left is ``empty_ink``.
    """
    out = [stroke_array(stroke, si, limits) for si, stroke in _nonempty_strokes(obj, limits)]
    if not out:
        raise InkError("empty_ink", EMPTY)
    return out


def checked_extent(obj, limits: Limits = DEFAULT_LIMITS) -> float:
    """``extent(validate_ink(obj))`` with the same errors, without keeping the arrays: the check before a job
    is published, at every pen-up, where a plain loop checks a short stroke faster than numpy builds it."""
    lo_x = lo_y = math.inf
    hi_x = hi_y = -math.inf
    for si, stroke in _nonempty_strokes(obj, limits):
        if len(stroke) <= SHORT_STROKE and _short_stroke_ok(stroke, limits.max_abs_coord):
            xs, ys = [float(p[0]) for p in stroke], [float(p[1]) for p in stroke]
            lo_x, hi_x, lo_y, hi_y = min(lo_x, *xs), max(hi_x, *xs), min(lo_y, *ys), max(hi_y, *ys)
        else:
            arr = stroke_array(stroke, si, limits)
            (x0, y0), (x1, y1) = arr.min(axis=0), arr.max(axis=0)
            lo_x, hi_x, lo_y, hi_y = min(lo_x, x0), max(hi_x, x1), min(lo_y, y0), max(hi_y, y1)
    if lo_x == math.inf:
        raise InkError("empty_ink", EMPTY)
    return float(max(hi_x - lo_x, hi_y - lo_y))


def check_size(raw: bytes | str, limits: Limits = DEFAULT_LIMITS) -> None:
    n = len(raw.encode() if isinstance(raw, str) else raw)
    if n > limits.max_bytes:
        raise InkError("payload_too_large", f"the payload is {n} bytes; at most {limits.max_bytes} are accepted")


def parse_ink_json(raw: bytes | str, limits: Limits = DEFAULT_LIMITS) -> tuple[dict, list[np.ndarray]]:
    """Size-check, parse and validate raw JSON; return the object and its strokes."""
    check_size(raw, limits)
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InkError("invalid_json", f"the body is not valid JSON: {exc}") from None
    return obj, validate_ink(obj, limits)


def extent(strokes: list[np.ndarray]) -> float:
    """The larger side of the ink's bounding box."""
    pts = np.concatenate(strokes)
    return float(np.ptp(pts, axis=0).max())


def is_degenerate(strokes: list[np.ndarray]) -> bool:
    """True when the points (nearly) coincide: a dot has no shape to recognise (see ``MIN_EXTENT``)."""
    return extent(strokes) <= MIN_EXTENT
