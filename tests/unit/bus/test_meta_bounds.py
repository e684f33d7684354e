"""A job's ``meta`` at its bounds, and what each refusal says: the size and depth limits are inclusive, and an
unknown event type is named."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from bus.schemas import MAX_META_BYTES, MAX_META_DEPTH, RecognizeJob
from bus.topology import event_routing_key

INK = {"strokes": [[[0, 0], [1, 1]]]}


def _refusal(meta) -> str:
    with pytest.raises(ValidationError) as exc:
        RecognizeJob(ink=INK, meta=meta)
    [error] = exc.value.errors()
    return error["msg"]


def _padded(size: int) -> dict:
    meta = {"pad": ""}
    meta["pad"] = "x" * (size - len(json.dumps(meta, separators=(",", ":"))))
    return meta


def test_meta_of_exactly_the_size_limit_is_accepted_and_one_byte_more_is_refused():
    assert len(RecognizeJob(ink=INK, meta=_padded(MAX_META_BYTES)).meta["pad"]) > 0
    assert _refusal(_padded(MAX_META_BYTES + 1)) == (
        f"Value error, meta is {MAX_META_BYTES + 1} bytes as JSON; at most {MAX_META_BYTES} are accepted"
    )


def test_meta_deeper_than_the_limit_is_refused_by_name():
    deep: dict = {}
    for _ in range(MAX_META_DEPTH + 2):
        deep = {"a": deep}
    assert _refusal(deep) == f"Value error, meta nests deeper than {MAX_META_DEPTH} levels"


def test_meta_too_deep_to_serialise_is_refused_as_such():
    deep: dict = {}
    for _ in range(400):
        deep = {"a": deep}
    assert _refusal(deep).startswith("Value error, meta is not serialisable: ")


def test_an_unknown_event_type_has_no_routing_key():
    with pytest.raises(ValueError, match=r"^unknown event type 'gossip'$"):
        event_routing_key("gossip", "edge-1")
