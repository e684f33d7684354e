"""The edge's wire codecs: the same bytes and values as the libraries' own, at a lower cost per packet."""

import json
import os

import pytest
from geventwebsocket.websocket import Header

from web.wire import MAX_INT_DIGITS, SocketJson, speed_up_websockets, unmask


def reference_unmask(mask: bytes, payload: bytes) -> bytearray:
    return bytearray(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 125, 126, 65536 + 7])
def test_unmasking_gives_the_bytes_rfc_6455_says(n):
    header = Header(fin=1, opcode=1, length=n)
    header.mask = os.urandom(4)
    payload = os.urandom(n)
    assert unmask(header, payload) == reference_unmask(header.mask, payload)
    assert unmask(header, unmask(header, payload)) == payload  # the same operation masks and unmasks


def test_gevent_websocket_frames_are_unmasked_by_it_once_the_edge_starts():
    assert speed_up_websockets()
    header = Header(fin=1, opcode=1, length=6)
    header.mask = b"\x01\x02\x03\x04"
    assert header.unmask_payload(b"abcdef") == reference_unmask(header.mask, b"abcdef")


def test_the_socket_json_reads_and_writes_like_the_standard_library():
    packet = '["stroke", {"id": 1, "points": [[1.5, -2, 16]], "final": true, "s": "\u00e9x"}]'
    assert SocketJson.loads(packet) == json.loads(packet)
    assert SocketJson.loads(packet.encode()) == json.loads(packet)
    value = {"a": [1, 2.5, None, "x"], "b": {"c": True}}
    assert SocketJson.dumps(value, separators=(",", ":")) == json.dumps(value, separators=(",", ":"))
    assert SocketJson.dumps(value) == json.dumps(value)


def test_the_socket_json_keeps_the_guard_against_huge_integers():
    assert SocketJson.loads("1" * MAX_INT_DIGITS) == int("1" * MAX_INT_DIGITS)
    with pytest.raises(ValueError, match="too large"):
        SocketJson.loads('{"id": ' + "9" * (MAX_INT_DIGITS + 1) + "}")
    with pytest.raises(ValueError):
        SocketJson.loads("[1,")


@pytest.mark.parametrize(
    "text",
    [
        '["stroke",{"id":0,"points":[[1,2,3],[4.5,-6,7]]}]',
        '{"s":"' + "7" * (MAX_INT_DIGITS + 1) + '","n":1}',  # long digits in a string: read, not refused
        "[" + "1" * MAX_INT_DIGITS + ",1e400,-0]",
    ],
)
def test_packets_read_by_either_decoder_give_the_standard_librarys_values(text):
    assert SocketJson.loads(text) == json.loads(text)


def test_a_huge_integer_after_a_long_digit_string_is_still_refused():
    with pytest.raises(ValueError, match="too large"):
        SocketJson.loads('{"s":"' + "1" * 200 + '","n":' + "9" * (MAX_INT_DIGITS + 1) + "}")
