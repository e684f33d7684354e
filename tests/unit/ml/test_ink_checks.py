"""The ink validator's exact answers: each rejection's code and message (which stroke, which point, which
limit), the points it accepts at its limits, and where a drawing stops being a dot."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.ink import (
    MIN_EXTENT,
    SHORT_STROKE,
    InkError,
    Limits,
    check_size,
    check_stroke,
    extent,
    is_degenerate,
    parse_ink_json,
    stroke_array,
    validate_ink,
)


def rejection(call) -> tuple[str, str]:
    with pytest.raises(InkError) as exc:
        call()
    return exc.value.code, exc.value.message


@pytest.mark.parametrize(
    "ink,code,message",
    [
        ([], "invalid_ink", 'ink must be a JSON object {"strokes": [...]}'),
        ({"strokes": {}}, "invalid_ink", '"strokes" must be a list of strokes'),
        ({"strokes": [[[0, 0]], "x"]}, "invalid_ink", "stroke 1 must be a list of points"),
        ({"strokes": [[], []]}, "empty_ink", "the drawing is empty: draw a character first"),
        ({"strokes": [[[0, 0]], [[1, 1], [2]]]}, "invalid_ink", "stroke 1, point 1: a point is [x, y] or [x, y, t]"),
        ({"strokes": [[[0, 0], (1, 1, 1, 1)]]}, "invalid_ink", "stroke 0, point 1: a point is [x, y] or [x, y, t]"),
        ({"strokes": [[[0, 0], [1, "2"]]]}, "invalid_ink", "stroke 0, point 1: coordinates must be numbers"),
        ({"strokes": [[[0, False]]]}, "invalid_ink", "stroke 0, point 0: coordinates must be numbers"),
        ({"strokes": [[[0, 0, math.inf]]]}, "non_finite", "stroke 0, point 0: coordinates must be finite numbers"),
        ({"strokes": [[[0, 0], [2e6, 0]]]}, "out_of_range", "stroke 0, point 1: coordinates must lie within ±1e+06"),
        ({"strokes": [[[0, -2e6]]]}, "out_of_range", "stroke 0, point 0: coordinates must lie within ±1e+06"),
    ],
)
def test_each_rejection_names_its_code_and_what_is_wrong_where(ink, code, message):
    assert rejection(lambda: validate_ink(ink)) == (code, message)


def test_the_limits_messages_give_the_limit_and_what_was_sent():
    assert rejection(lambda: validate_ink({"strokes": [[[0, 0]]] * 4}, Limits(max_strokes=3))) == (
        "too_many_strokes", "at most 3 strokes are accepted, got 4",
    )  # fmt: skip
    assert rejection(lambda: validate_ink({"strokes": [[[0, 0]] * 2, [[1, 1]] * 2]}, Limits(max_points=3))) == (
        "too_many_points", "at most 3 points are accepted in one ink",
    )  # fmt: skip
    assert rejection(lambda: check_size("é" * 30, Limits(max_bytes=50))) == (
        "payload_too_large", "the payload is 60 bytes; at most 50 are accepted",  # counted in UTF-8 bytes
    )  # fmt: skip
    assert rejection(lambda: validate_ink({"strokes": [[[0, 101]]]}, Limits(max_abs_coord=100))) == (
        "out_of_range", "stroke 0, point 0: coordinates must lie within ±100",
    )  # fmt: skip


def test_each_limit_is_inclusive():
    assert len(validate_ink({"strokes": [[[0, 0]]] * 3}, Limits(max_strokes=3))) == 3
    assert len(validate_ink({"strokes": [[[0, 0]] * 2, [[1, 1]]]}, Limits(max_points=3))) == 2
    check_size("é" * 25, Limits(max_bytes=50))
    assert validate_ink({"strokes": [[[-100, 100]]]}, Limits(max_abs_coord=100))[0].tolist() == [[-100, 100]]


def test_empty_strokes_still_count_towards_the_stroke_limit_but_add_no_points():
    with pytest.raises(InkError):
        validate_ink({"strokes": [[], [], [[0, 0]]]}, Limits(max_strokes=2))
    assert len(validate_ink({"strokes": [[], [[0, 0]] * 3]}, Limits(max_points=3))) == 1


def test_a_time_is_any_finite_number_and_is_not_range_checked():
    assert validate_ink({"strokes": [[[1, 2, 1e300], [3, 4, -5]]]})[0].tolist() == [[1, 2], [3, 4]]


def test_points_given_as_tuples_are_checked_one_by_one_and_accepted():
    assert stroke_array([(1, 2), (3, 4.5, 9)], 0).tolist() == [[1, 2], [3, 4.5]]
    assert stroke_array([], 0).shape == (0, 2)


def test_a_stroke_of_points_with_a_time_keeps_x_and_y_of_each_point():
    arr = stroke_array([[1, 2, 100], [3, 4, 101], [5, 6]], 0)
    assert arr.tolist() == [[1, 2], [3, 4], [5, 6]] and arr.dtype == np.float64


def test_an_integer_too_large_for_a_float_is_out_of_range():
    assert rejection(lambda: stroke_array([[0, 0], [10**400, 0]], 2)) == (
        "out_of_range", "stroke 2, point 1: coordinates must lie within ±1e+06",
    )  # fmt: skip


def test_bad_json_and_json_nested_past_the_parsers_depth_are_invalid_json():
    code, message = rejection(lambda: parse_ink_json("{", Limits(max_bytes=100)))
    assert code == "invalid_json" and message.startswith("the body is not valid JSON: ")
    assert rejection(lambda: parse_ink_json("[" * 200_000 + "]" * 200_000, Limits(max_bytes=10**6)))[0] in {
        "invalid_json", "invalid_ink",
    }  # fmt: skip


def test_parsing_returns_the_object_and_its_strokes():
    obj, strokes = parse_ink_json('{"strokes": [[[0, 0], [3, 4]]], "extra": 1}')
    assert obj == {"strokes": [[[0, 0], [3, 4]]], "extra": 1} and strokes[0].tolist() == [[0, 0], [3, 4]]


def test_the_extent_is_the_larger_side_of_the_bounding_box_over_all_strokes():
    assert extent([np.array([[0.0, 0.0], [2.0, 1.0]]), np.array([[1.0, 7.0]])]) == 7.0
    assert extent([np.array([[0.0, 0.0], [5.0, 1.0]])]) == 5.0


def test_a_drawing_is_a_dot_up_to_exactly_the_minimum_extent():
    assert is_degenerate([np.array([[0.0, 0.0], [MIN_EXTENT, 0.0]])])
    assert not is_degenerate([np.array([[0.0, 0.0], [MIN_EXTENT * 1.5, 0.0]])])


@pytest.mark.parametrize(
    "stroke",
    [
        [[0, 0]] * SHORT_STROKE,
        [[0, 0, 5]] * (SHORT_STROKE + 1),  # long: the array path
        [[1e6, -1e6], [0.5, 2, 1.7e12]],
        [[0, 0], (1, 1)],  # a tuple point (from Python, not JSON)
    ],
)
def test_the_chunk_check_accepts_what_the_array_path_accepts(stroke):
    check_stroke(stroke, 0)
    stroke_array(stroke, 0)


@pytest.mark.parametrize(
    "stroke,code,message",
    [
        ([[0, 0]] * SHORT_STROKE + [[0, 2e6]], "out_of_range", f"stroke 4, point {SHORT_STROKE}: coordinates must "),
        ([[0, 0], [1]], "invalid_ink", "stroke 4, point 1: a point is [x, y] or [x, y, t]"),
        ([[0, 0, 0, 0]], "invalid_ink", "stroke 4, point 0: a point is [x, y] or [x, y, t]"),
        ([[0, 0, math.inf]], "non_finite", "stroke 4, point 0: coordinates must be finite numbers"),
        ([[0, 0, -math.inf]], "non_finite", "stroke 4, point 0: coordinates must be finite numbers"),
        ([[-2e6, 0]], "out_of_range", "stroke 4, point 0: coordinates must lie within ±1e+06"),
        ([[0, 2e6]], "out_of_range", "stroke 4, point 0: coordinates must lie within ±1e+06"),
        ([[0.5, None]], "invalid_ink", "stroke 4, point 0: coordinates must be numbers"),
        ([[True, 0]], "invalid_ink", "stroke 4, point 0: coordinates must be numbers"),
    ],
)
def test_the_chunk_check_refuses_with_the_array_paths_code_and_message(stroke, code, message):
    expected = rejection(lambda: stroke_array(stroke, 4))
    assert rejection(lambda: check_stroke(stroke, 4)) == expected
    assert expected[0] == code and expected[1].startswith(message)


def test_the_chunk_check_applies_the_limits_it_is_given():
    with pytest.raises(InkError):
        check_stroke([[0, 11]], 0, Limits(max_abs_coord=10))
    check_stroke([[0, -10, 99]], 0, Limits(max_abs_coord=10))


def test_a_chunk_that_is_not_a_list_is_checked_by_the_array_path():
    assert rejection(lambda: check_stroke(((0, 0), (1, 2e6)), 1)) == (
        "out_of_range", "stroke 1, point 1: coordinates must lie within ±1e+06",
    )  # fmt: skip
