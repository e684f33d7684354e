"""Augmentation on the ink itself, before rendering, so the model sees what canvases produce."""

from __future__ import annotations

import numpy as np


def random_affine(rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    rot = np.deg2rad(rng.uniform(-12, 12) * strength)
    shear = rng.uniform(-0.25, 0.25) * strength
    sx, sy = np.exp(rng.uniform(-0.15, 0.15, size=2) * strength)
    c, s = np.cos(rot), np.sin(rot)
    return np.array([[c, -s], [s, c]]) @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([sx, sy])


def augment_strokes(strokes: list[np.ndarray], rng: np.random.Generator, strength: float = 1.0) -> list[np.ndarray]:
    """Affine warp, jitter relative to the ink's size, and interior point dropout."""
    m = random_affine(rng, strength)
    pts = np.concatenate(strokes)
    size = max(float(np.ptp(pts, axis=0).max()), 1e-6)
    jitter = 0.012 * size * strength
    out = []
    for s in strokes:
        q = s @ m.T
        if len(q) > 4 and rng.random() < 0.5:
            keep = rng.random(len(q)) > rng.uniform(0, 0.3)
            keep[0] = keep[-1] = True
            q = q[keep]
        out.append(q + rng.normal(0.0, jitter, size=q.shape))
    return out


def random_radius(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform(0.8, 2.0, size=n).astype(np.float32)
