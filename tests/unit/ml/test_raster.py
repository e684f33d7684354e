import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.ink import validate_ink
from ml.metadata import BOX_SIZE, IMAGE_SIZE
from ml.raster import MAX_DABS, batch_to_dabs, ink_to_dabs, max_into, render, render_batch
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


def test_the_character_fills_a_20_pixel_box_mnist_style():
    assert (BOX_SIZE, IMAGE_SIZE) == (20, 28)  # what MNIST and the trained models expect
    tall = ink_to_dabs(ink([(0, 0), (0, 50)], [(3, 25)]))  # the pen's centre spans the box; the pen adds its width
    assert np.ptp(tall[:, 1]) == pytest.approx(20.0) and np.ptp(tall[:, 0]) == pytest.approx(20 * 3 / 50)
    wide = ink_to_dabs(ink([(0, 0), (100, 0)], [(50, 7)]))
    assert np.ptp(wide[:, 0]) == pytest.approx(20.0) and np.ptp(wide[:, 1]) == pytest.approx(20 * 7 / 100)


@pytest.mark.parametrize("tiny", [5e-324, 1e-310, 1e-9])
def test_an_ink_with_a_subnormal_extent_renders_as_the_dot_it_is(tiny):
    img = render(ink([(0, 0), (tiny, 0)]))
    assert np.array_equal(img, render(ink([(0, 0)])))


def _zigzag(n: int, size: float = 1.0) -> list:
    return [(0, 0) if i % 2 == 0 else (size, size) for i in range(n)]


@pytest.mark.parametrize(
    "strokes",
    [
        [_zigzag(4096)],  # 115,000 pixels of line: 230,000 pen positions at half-pixel steps
        [_zigzag(64, 1e6) for _ in range(64)],
        [[(np.cos(i / 5) * i, np.sin(i / 5) * i) for i in range(4096)]],
    ],
)
def test_the_pen_positions_drawn_for_one_ink_are_bounded(strokes):
    dabs = ink_to_dabs(ink(*strokes))
    assert len(dabs) <= MAX_DABS + len(strokes)
    assert np.isfinite(dabs).all()


def test_strokes_are_drawn_at_half_pixel_steps_end_to_end():
    dabs = ink_to_dabs(ink([(0, 0), (0, 10)], [(5, 0), (5, 2)], [(9, 9)]))
    assert len(dabs) == (40 + 1) + (8 + 1) + 1  # 20 px and 4 px of line, both ends, and a dot
    steps = np.hypot(*np.diff(dabs[:41], axis=0).T)
    assert steps == pytest.approx(np.full(40, 0.5))


coordinate = st.one_of(st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6), st.sampled_from([0.0, 5e-324, 1e-7, 3.5]))
stroke = st.lists(st.lists(coordinate, min_size=2, max_size=3), min_size=1, max_size=40)
drawn = st.lists(stroke, min_size=1, max_size=8).map(lambda s: validate_ink({"strokes": s}))


@settings(max_examples=300, deadline=None)
@given(st.lists(drawn, min_size=0, max_size=9))
def test_pen_positions_made_for_a_whole_batch_equal_those_made_one_ink_at_a_time(batch):
    """Training and serving render batches; the model was trained on ink_to_dabs' values: equal to the bit."""
    together = batch_to_dabs(batch)
    assert len(together) == len(batch)
    for strokes, dabs in zip(batch, together, strict=True):
        alone = ink_to_dabs(strokes)
        assert dabs.shape == alone.shape and np.array_equal(dabs, alone)


@pytest.mark.parametrize(
    "odd",
    [
        [_zigzag(4096)],  # past MAX_DABS: a longer step
        [_zigzag(64, 1e6) for _ in range(64)],  # the most strokes, each past the budget
        [[(3, 3)], [(3, 3), (3, 3)], [(3, 3)]],  # a dot drawn three times
        [[(0, 0), (1e-310, 0)]],  # an extent below a dot's
    ],
)
def test_a_batch_of_unusual_inks_among_real_ones_is_drawn_as_each_alone(odd):
    real = [validate_ink(s) for s in sample_ink()[:20]]
    batch = [*real[:7], ink(*odd), *real[7:]]
    for strokes, dabs in zip(batch, batch_to_dabs(batch), strict=True):
        assert np.array_equal(dabs, ink_to_dabs(strokes))
    assert np.array_equal(render_batch(batch), np.stack([render(s) for s in batch]))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.floats(-2, 2, allow_nan=False, width=64)), max_size=200),
    st.lists(st.floats(-1, 1, allow_nan=False, width=32), min_size=41, max_size=41),
)
def test_the_sorted_per_pixel_maximum_equals_numpy_maximum_at(pairs, start):
    # repeated pixels, values below what a pixel holds, float64 values into float32 pixels: as the renderer has
    index = np.array([i for i, _ in pairs], np.int64)
    values = np.array([v for _, v in pairs], np.float64)
    want, got = np.array(start, np.float32), np.array(start, np.float32)
    np.maximum.at(want, index, values)
    max_into(got, index, values)
    assert np.array_equal(got, want)


def test_every_training_sample_renders_as_numpy_maximum_at_drew_it(monkeypatch):
    inks = [validate_ink(r) for r in sample_ink()]
    fast = render_batch(inks)

    def reference(out, index, values):
        np.maximum.at(out, index, values)

    monkeypatch.setattr("ml.raster.max_into", reference)
    assert np.array_equal(fast, render_batch(inks))
    assert np.array_equal(np.stack([render(x) for x in inks[:40]]), fast[:40])
