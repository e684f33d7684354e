"""The rasteriser at its edges: no ink at all, an ink exactly as small as a dot, pen dabs on the image's border
(lit there, never wrapped onto the other side or the next image), and coordinates at the limit."""

from __future__ import annotations

import numpy as np
import pytest

from ml.ink import DEFAULT_LIMITS, MIN_EXTENT, stroke_array
from ml.metadata import IMAGE_SIZE
from ml.raster import render, render_batch, render_dabs


def test_no_ink_renders_no_images_of_the_models_type():
    out = render_batch([])
    assert out.shape == (0, IMAGE_SIZE, IMAGE_SIZE) and out.dtype == np.uint8
    assert render_dabs([]).dtype == np.uint8


def test_an_ink_exactly_as_small_as_a_dot_is_drawn_as_a_dot():
    dot = render([np.array([[0.0, 0.0]])])
    tiny = render([np.array([[0.0, 0.0], [MIN_EXTENT, 0.0]])])  # its extent is MIN_EXTENT exactly
    assert np.abs(tiny.astype(int) - dot).max() <= 1 and 0 < np.count_nonzero(dot) <= 16


def test_dabs_on_the_border_light_the_border_and_never_wrap():
    corner, right_edge = np.array([[0.5, 0.5]]), np.array([[IMAGE_SIZE - 0.5, 5.5]])
    first, second = render_dabs([corner, right_edge])
    assert first[0, 0] == 255 and first[0, 1] > 0 and first[1, 0] > 0
    assert not first[-1].any() and not first[:, -1].any()  # nothing from -1 wrapped round
    assert second[5, IMAGE_SIZE - 1] == 255 and second[4, IMAGE_SIZE - 1] > 0
    assert not second[:, 0].any() and not second[0].any()  # nothing from column 28 wrapped to the next row


def test_a_dab_in_the_last_corner_stays_in_its_own_image():
    last, after = render_dabs([np.array([[IMAGE_SIZE - 0.5, IMAGE_SIZE - 0.5]]), np.zeros((0, 2))])
    assert last[-1, -1] == 255 and not after.any()


def test_points_at_exactly_the_coordinate_limit_are_accepted_point_by_point():
    bound = DEFAULT_LIMITS.max_abs_coord
    arr = stroke_array([(bound, -bound), (-bound, bound)], 0)  # tuples: checked point by point
    assert arr.tolist() == [[bound, -bound], [-bound, bound]]


def test_a_short_stroke_whose_every_coordinate_is_out_of_range_is_refused():
    from ml.ink import InkError, check_stroke

    bound = DEFAULT_LIMITS.max_abs_coord
    with pytest.raises(InkError) as exc:
        check_stroke([[2 * bound, -2 * bound]], 0)
    assert exc.value.code == "out_of_range"


def test_points_checked_one_by_one_come_back_as_floats():
    arr = stroke_array([(1, 2), (3, 4)], 0)
    assert arr.dtype == np.float64 and arr.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_a_stroke_shorter_than_a_pixel_is_drawn_from_its_start_to_its_end():
    from ml.raster import ink_to_dabs

    long, short = np.array([[0.0, 0.0], [0.0, 20.0]]), np.array([[10.0, 10.0], [10.0, 10.4]])  # scale 1: 0.4 px
    dabs = ink_to_dabs([long, short])
    assert np.allclose(dabs[-1] - dabs[-2], [0.0, 0.4])  # both ends of the short stroke, nothing in between
