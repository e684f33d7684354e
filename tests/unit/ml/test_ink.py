import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.ink import MIN_EXTENT, InkError, Limits, check_size, is_degenerate, parse_ink_json, validate_ink


def codes(obj) -> str:
    with pytest.raises(InkError) as exc:
        validate_ink(obj)
    assert exc.value.message
    return exc.value.code


def test_valid_ink_becomes_float_arrays():
    strokes = validate_ink({"strokes": [[[0, 0], [1, 2.5, 10]], [[3, 4]]]})
    assert [s.shape for s in strokes] == [(2, 2), (1, 2)]
    assert strokes[0].dtype == np.float64
    assert strokes[0][1].tolist() == [1.0, 2.5]


def test_empty_strokes_are_dropped():
    assert len(validate_ink({"strokes": [[], [[1, 1]], []]})) == 1


@pytest.mark.parametrize(
    ("obj", "code"),
    [
        ({"strokes": []}, "empty_ink"),
        ({"strokes": [[], []]}, "empty_ink"),
        ([], "invalid_ink"),
        ({"points": []}, "invalid_ink"),
        ({"strokes": "abc"}, "invalid_ink"),
        ({"strokes": [[[1]]]}, "invalid_ink"),
        ({"strokes": [[[1, 2, 3, 4]]]}, "invalid_ink"),
        ({"strokes": [[["1", 2]]]}, "invalid_ink"),
        ({"strokes": [[[True, 2]]]}, "invalid_ink"),
        ({"strokes": [[[None, 2]]]}, "invalid_ink"),
        ({"strokes": [[{"x": 1}]]}, "invalid_ink"),
        ({"strokes": [[[math.nan, 2]]]}, "non_finite"),
        ({"strokes": [[[1, math.inf]]]}, "non_finite"),
        ({"strokes": [[[1, 2, -math.inf]]]}, "non_finite"),
        ({"strokes": [[[1, 2], [3, 4, math.nan]]]}, "non_finite"),
        ({"strokes": [[[1, 2], [10**400, 4]]]}, "out_of_range"),
        ({"strokes": [[[1e6 + 1, 2]]]}, "out_of_range"),
        ({"strokes": [[[0, -2e6]]]}, "out_of_range"),
        ({"strokes": [[[0, 0]]] * 65}, "too_many_strokes"),
        ({"strokes": [[[0, 0]] * 4097]}, "too_many_points"),
        ({"strokes": [[[0, 0]] * 2048, [[1, 1]] * 2049]}, "too_many_points"),
    ],
)
def test_rejections_carry_codes(obj, code):
    assert codes(obj) == code


def test_limits_are_inclusive():
    validate_ink({"strokes": [[[0, 0]]] * 64})
    validate_ink({"strokes": [[[1e6, -1e6]] * 4096]})


def test_payload_size_limit():
    check_size(b"x" * 64 * 1024)
    with pytest.raises(InkError) as exc:
        check_size(b"x" * (64 * 1024 + 1))
    assert exc.value.code == "payload_too_large"
    with pytest.raises(InkError):
        parse_ink_json(b"{}" + b" " * 100, Limits(max_bytes=50))


def test_huge_integers_are_out_of_range_not_a_crash():
    raw = '{"strokes": [[[1, 2], [1' + "0" * 400 + ", 3]]]}"
    with pytest.raises(InkError) as exc:
        parse_ink_json(raw)
    assert exc.value.code == "out_of_range"


def test_parse_rejects_bad_json_with_a_code():
    for raw in (b"nope", b"{", b"\xff\xfe", b"[" * 100000):
        with pytest.raises(InkError) as exc:
            parse_ink_json(raw, Limits(max_bytes=10**6))
        assert exc.value.code in {"invalid_json", "invalid_ink"}


def test_degenerate_is_a_dot_not_a_line():
    assert is_degenerate(validate_ink({"strokes": [[[5, 5]]]}))
    assert is_degenerate(validate_ink({"strokes": [[[5, 5], [5, 5]], [[5, 5]]]}))
    assert not is_degenerate(validate_ink({"strokes": [[[5, 5], [5, 9]]]}))  # a vertical line is an "l" or "1"


@pytest.mark.parametrize("tiny", [5e-324, 1e-310, 1e-7, MIN_EXTENT])
def test_an_ink_too_small_to_have_a_shape_is_a_dot(tiny):
    assert is_degenerate(validate_ink({"strokes": [[[0, 0], [tiny, 0]]]}))
    assert is_degenerate(validate_ink({"strokes": [[[1e6, -1e6]], [[1e6, -1e6 + tiny / 2]]]}))
    assert not is_degenerate(validate_ink({"strokes": [[[0, 0], [0, 2 * MIN_EXTENT]]]}))


def test_points_with_and_without_a_time_give_x_and_y():
    strokes = validate_ink({"strokes": [[[0, 1, 10], [2, 3], [4, 5, 12.5]], [[6, 7], [8, 9]], [[1, 2, 3]]]})
    assert [s.tolist() for s in strokes] == [[[0, 1], [2, 3], [4, 5]], [[6, 7], [8, 9]], [[1, 2]]]
    assert all(s.dtype == np.float64 and s.shape[1] == 2 for s in strokes)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=60,
)
points = st.lists(
    st.one_of(st.integers(-(10**7), 10**7), st.floats(allow_nan=True, allow_infinity=True)), min_size=0, max_size=4
)
inks = st.fixed_dictionaries({"strokes": st.lists(st.lists(points, max_size=20), max_size=8)})


@settings(max_examples=400, deadline=None)
@given(st.one_of(json_values, inks, st.fixed_dictionaries({"strokes": json_values})))
def test_validator_never_fails_any_other_way(obj):
    try:
        strokes = validate_ink(obj)
    except InkError as exc:
        assert exc.code in {
            "invalid_ink",
            "empty_ink",
            "non_finite",
            "out_of_range",
            "too_many_strokes",
            "too_many_points",
        }
        return
    assert strokes and all(np.isfinite(s).all() and s.shape[1] == 2 for s in strokes)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_raw_bytes_never_crash_the_parser(raw):
    try:
        parse_ink_json(raw)
    except InkError:
        pass


@settings(max_examples=300, deadline=None)
@given(inks)
def test_the_fast_path_agrees_with_the_point_by_point_check(obj):
    """validate_ink checks whole strokes at once; the per-point walk is the reference."""
    from ml.ink import DEFAULT_LIMITS, _check_point

    try:
        fast = validate_ink(obj)
    except InkError as exc:
        fast = exc.code
    try:
        for si, stroke in enumerate(obj["strokes"]):
            for pi, p in enumerate(stroke):
                _check_point(p, si, pi, DEFAULT_LIMITS)
        slow = [np.array([p[:2] for p in s], dtype=float) for s in obj["strokes"] if s] or "empty_ink"
    except InkError as exc:
        slow = exc.code
    if isinstance(slow, str) or isinstance(fast, str):
        assert fast == slow
    else:
        assert all(np.array_equal(a, b) for a, b in zip(fast, slow, strict=True))


def test_validated_ink_round_trips_through_json():
    ink = {"strokes": [[[0, 0, 0], [10, 10, 16]]]}
    assert validate_ink(json.loads(json.dumps(ink)))[0].tolist() == [[0, 0], [10, 10]]


def test_every_rejection_says_what_is_wrong_for_a_person():
    """The message is part of the answer (docs/PROTOCOL.md): it names the limit or the problem."""
    cases = [
        (lambda: check_size(b"x" * 51, Limits(max_bytes=50)), "payload_too_large", "50"),
        (lambda: parse_ink_json(b"{", Limits(max_bytes=100)), "invalid_json", "JSON"),
        (lambda: validate_ink({"strokes": [[[0, 0]]] * 3}, Limits(max_strokes=2)), "too_many_strokes", "2"),
        (lambda: validate_ink({"strokes": [[[0, 0]] * 3]}, Limits(max_points=2)), "too_many_points", "2"),
        (lambda: validate_ink({"strokes": [[[0, 11]]]}, Limits(max_abs_coord=10)), "out_of_range", "10"),
    ]
    for call, code, needle in cases:
        with pytest.raises(InkError) as exc:
            call()
        err = exc.value
        assert err.code == code and isinstance(err.message, str) and needle in err.message, (code, err.message)
        assert err.as_dict() == {"code": code, "message": err.message} and str(err) == err.message


def test_parsing_applies_the_limits_it_is_given():
    raw = json.dumps({"strokes": [[[0, 0], [1, 1]]] * 3})
    assert len(parse_ink_json(raw)[1]) == 3
    with pytest.raises(InkError) as exc:
        parse_ink_json(raw, Limits(max_strokes=2))
    assert exc.value.code == "too_many_strokes"


chunk_values = st.one_of(
    st.integers(-(10**7), 10**7),
    st.integers(-(10**400), 10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=2),
)
chunk_points = st.one_of(st.lists(chunk_values, min_size=0, max_size=4), st.tuples(st.floats(), st.floats()), st.none())


@settings(max_examples=500, deadline=None)
@given(st.lists(chunk_points, max_size=80), st.sampled_from([1e6, 10.0]))
def test_the_edges_chunk_check_rejects_what_the_array_path_rejects_with_the_same_code(stroke, bound):
    """check_stroke (a plain loop for short chunks) must accept and refuse exactly like stroke_array."""
    from ml.ink import check_stroke, stroke_array

    limits = Limits(max_abs_coord=bound)

    def outcome(fn):
        try:
            fn(stroke, 3, limits)
        except InkError as exc:
            return exc.code, exc.message
        return "ok"

    assert outcome(check_stroke) == outcome(stroke_array)


def test_the_chunk_check_bounds_x_and_y_and_only_asks_a_time_to_be_a_finite_number():
    from ml.ink import check_stroke

    check_stroke([[0, 0, 1.7e12], [1, 1, 10**300]], 0)  # epoch milliseconds, or any finite number
    with pytest.raises(InkError) as exc:
        check_stroke([[0, 0, math.nan]], 0)
    assert exc.value.code == "non_finite"
    with pytest.raises(InkError) as exc:
        check_stroke([[0, 1e6 + 1]], 0)
    assert exc.value.code == "out_of_range"
    with pytest.raises(InkError) as exc:
        check_stroke([[0, True]], 0)
    assert exc.value.code == "invalid_ink"


ink_strokes = st.lists(st.lists(chunk_points, max_size=70), max_size=6)


@settings(max_examples=500, deadline=None)
@given(st.one_of(ink_strokes, json_values), st.sampled_from([1e6, 10.0]))
def test_the_pre_publish_extent_agrees_with_the_arrays_in_value_and_in_every_refusal(strokes, bound):
    """checked_extent (plain loops for short strokes) must equal extent(validate_ink(...)) or refuse alike."""
    from ml.ink import checked_extent, extent

    limits = Limits(max_abs_coord=bound)
    obj = {"strokes": strokes}

    def outcome(fn):
        try:
            return fn(obj)
        except InkError as exc:
            return exc.code, exc.message

    assert outcome(lambda o: checked_extent(o, limits)) == outcome(lambda o: extent(validate_ink(o, limits)))


@pytest.mark.parametrize("tiny", [5e-324, 1e-310, MIN_EXTENT, 3 * MIN_EXTENT])
def test_the_pre_publish_extent_sees_a_dot_as_the_arrays_do(tiny):
    from ml.ink import checked_extent

    for obj in ({"strokes": [[[0, 0], [tiny, 0]]]}, {"strokes": [[[1e6, -1e6]], [], [[1e6, -1e6 + tiny / 2, 7]]]}):
        assert (checked_extent(obj) <= MIN_EXTENT) == is_degenerate(validate_ink(obj))
    long = {"strokes": [[[i * tiny / 100, 0] for i in range(101)]]}  # past the plain loop: numpy's path
    assert checked_extent(long) == pytest.approx(tiny) and (checked_extent(long) <= MIN_EXTENT) == (tiny <= MIN_EXTENT)
