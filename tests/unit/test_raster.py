import numpy as np
import pytest

from ml.ink import validate_ink
from ml.metadata import BOX_SIZE, IMAGE_SIZE
from ml.raster import render, render_batch
from tests.helpers import sample_ink


def ink(*strokes):
    return validate_ink({"strokes": [list(map(list, s)) for s in strokes]})


def centre_of_mass(img):
    ys, xs = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    w = img.astype(float)
    return (xs * w).sum() / w.sum() + 0.5, (ys * w).sum() / w.sum() + 0.5


def test_shape_dtype_and_range():
    img = render(ink([(0, 0), (100, 100)]))
    assert img.shape == (IMAGE_SIZE, IMAGE_SIZE) and img.dtype == np.uint8
    assert img.max() == 255 and img.min() == 0


def test_antialiased_edges_have_intermediate_values():
    img = render(ink([(0, 0), (37, 100)]))
    assert ((img > 0) & (img < 255)).sum() > 10


@pytest.mark.parametrize("scale", [0.01, 1, 1000, 3e4])
def test_unit_invariance(scale):
    base = render(ink([(0, 0), (10, 0), (10, 20), (0, 20)]))
    scaled = render(ink([(0, 0), (10 * scale, 0), (10 * scale, 20 * scale), (0, 20 * scale)]))
    assert np.abs(base.astype(int) - scaled).max() <= 1


def test_translation_invariance():
    a = render(ink([(0, 0), (5, 9), (9, 2)]))
    b = render(ink([(500, -300), (505, -291), (509, -298)]))
    assert np.abs(a.astype(int) - b).max() <= 1


def test_box_keeps_aspect_ratio():
    img = render(ink([(0, 0), (0, 50)]))  # a vertical bar
    rows = np.where(img.max(axis=1) > 0)[0]
    cols = np.where(img.max(axis=0) > 0)[0]
    assert BOX_SIZE - 1 <= np.ptp(rows) <= BOX_SIZE + 4
    assert np.ptp(cols) <= 4


@pytest.mark.parametrize("strokes", [[[(0, 0), (30, 0), (30, 30)]], [[(0, 0), (40, 5)], [(0, 20), (3, 40)]]])
def test_centre_of_mass_is_centred(strokes):
    cx, cy = centre_of_mass(render(ink(*strokes)))
    assert abs(cx - IMAGE_SIZE / 2) < 0.75 and abs(cy - IMAGE_SIZE / 2) < 0.75


def test_y_down_orientation():
    img = render(ink([(0, 0), (20, 0)], [(0, 0), (0, 40)]))  # a "Γ": bar at the top
    top, bottom = img[: IMAGE_SIZE // 2].sum(), img[IMAGE_SIZE // 2 :].sum()
    assert top > bottom


def test_single_point_renders_a_dot_in_the_centre():
    img = render(ink([(3, 4)]))
    assert 0 < (img > 0).sum() < 20
    cx, cy = centre_of_mass(img)
    assert abs(cx - 14) < 0.6 and abs(cy - 14) < 0.6


def test_batch_equals_singles_and_radius_per_sample():
    samples = [validate_ink(s) for s in sample_ink()[:12]]
    batch = render_batch(samples)
    for s, img in zip(samples, batch, strict=True):
        assert np.array_equal(render(s), img)
    thin, thick = render_batch(samples[:2], radius=np.array([0.8, 2.0]))
    assert (thick > 0).sum() > (render(samples[1], radius=0.8) > 0).sum()
    assert np.array_equal(thin, render(samples[0], radius=0.8))


def test_empty_batch():
    assert render_batch([]).shape == (0, IMAGE_SIZE, IMAGE_SIZE)
