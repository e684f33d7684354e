"""The stroke-sequence features (ml/sequence.py): the same code feeds training and serving."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.ink import validate_ink
from ml.sequence import SEQ_CHANNELS, SEQ_LEN, ink_to_sequence, sequence_batch
from tests.helpers import sample_ink


def strokes(*lists):
    return [np.asarray(s, dtype=np.float64) for s in lists]


def test_shape_and_pen_lifts_mark_each_new_stroke():
    ink = strokes([[0, 0], [0, 10], [0, 20]], [[-5, 0], [5, 0]], [[9, 9]])
    seq = ink_to_sequence(ink)
    assert seq.shape == (SEQ_LEN, SEQ_CHANNELS) and seq.dtype == np.float32
    assert seq[:, 4].sum() == 2 and seq[0, 4] == 0  # two lifts: before stroke 2 and before the dot


def test_a_dot_keeps_a_point_and_a_long_stroke_gets_most():
    ink = strokes([[0, 0], [0, 100]], [[0, -20]])  # an i: stem, then its dot
    seq = ink_to_sequence(ink)
    lift = int(np.argmax(seq[:, 4]))
    assert lift == SEQ_LEN - 1  # the dot is the last point, after 63 points of stem
    assert np.allclose(seq[lift, :2], [0.0, -0.5], atol=1e-6)  # the dot's place survives


def test_scale_and_translation_do_not_matter_and_aspect_ratio_does():
    base = strokes([[0, 0], [10, 0], [10, 30]])
    moved = strokes([[500, 700], [600, 700], [600, 1000]])
    assert np.allclose(ink_to_sequence(base), ink_to_sequence(moved), atol=1e-5)
    wide = strokes([[0, 0], [30, 0], [30, 10]])
    assert not np.allclose(ink_to_sequence(base)[:, :2], ink_to_sequence(wide)[:, :2])
    xy = ink_to_sequence(base)[:, :2]
    assert xy.min() >= -0.5 - 1e-6 and xy.max() <= 0.5 + 1e-6


def test_direction_is_kept():
    forward = ink_to_sequence(strokes([[0, 0], [10, 0], [10, 10]]))
    backward = ink_to_sequence(strokes([[10, 10], [10, 0], [0, 0]]))
    assert np.allclose(forward[:, :2], backward[::-1, :2], atol=1e-5)
    assert not np.allclose(forward, backward)


def test_more_strokes_than_points_and_single_points():
    many = [np.array([[i, i % 3]], dtype=np.float64) for i in range(100)]
    assert ink_to_sequence(many).shape == (SEQ_LEN, SEQ_CHANNELS)
    assert np.isfinite(ink_to_sequence(strokes([[3, 3]]))).all()


def test_batch_of_real_ink():
    inks = [validate_ink(r) for r in sample_ink()[:20]]
    batch = sequence_batch(inks)
    assert batch.shape == (20, SEQ_LEN, SEQ_CHANNELS) and np.isfinite(batch).all()
    assert sequence_batch([]).shape == (0, SEQ_LEN, SEQ_CHANNELS)


finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(finite, finite), min_size=1, max_size=30), min_size=1, max_size=70))
def test_any_valid_ink_gives_finite_bounded_features(raw):
    seq = ink_to_sequence([np.asarray(s, dtype=np.float64) for s in raw])
    assert seq.shape == (SEQ_LEN, SEQ_CHANNELS) and np.isfinite(seq).all()
    assert np.abs(seq[:, :2]).max() <= 0.5 + 1e-5


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.lists(st.tuples(finite, finite), min_size=1, max_size=12), min_size=1, max_size=70),
        min_size=2,
        max_size=6,
    )
)
def test_the_vectorised_batch_equals_the_per_ink_reference(raw):
    inks = [[np.asarray(s, dtype=np.float64) for s in ink] for ink in raw]
    reference = np.stack([ink_to_sequence(ink) for ink in inks])
    assert np.allclose(sequence_batch(inks), reference, atol=1e-5)


def test_the_vectorised_batch_equals_the_reference_on_real_ink():
    inks = [validate_ink(r) for r in sample_ink()]
    reference = np.stack([ink_to_sequence(ink) for ink in inks])
    assert np.allclose(sequence_batch(inks), reference, atol=1e-6)


def test_an_ink_with_a_subnormal_extent_is_a_dot_here_too():
    dot = ink_to_sequence(validate_ink({"strokes": [[[0, 0]]]}))
    for tiny in (5e-324, 1e-310):
        strokes = validate_ink({"strokes": [[[0, 0], [tiny, 0]]]})
        assert np.array_equal(ink_to_sequence(strokes), dot)
        assert np.array_equal(sequence_batch([strokes, strokes])[1], dot)


def test_features_hold_no_subnormal_numbers_whatever_the_ink():
    """A float32 subnormal in the features made the model's forward pass of a whole batch ~100x slower."""
    crafted = validate_ink({"strokes": [[[-1, 0], [1, 0]], [[0, 1e-40]]]})  # centre.y 5e-41: y = ±2.5e-41
    for out in (ink_to_sequence(crafted), sequence_batch([crafted, crafted])):
        tiny = np.abs(out[out != 0])
        assert tiny.size and tiny.min() >= 1e-12
