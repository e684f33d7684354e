"""The edge's per-event wire costs: the Socket.IO JSON codec and gevent-websocket's frame unmasking.

Every streamed chunk of a stroke (the page sends one every 32 ms while the pen is down) crosses both. python-engineio's
own ``json.loads`` passes ``parse_int`` and so builds a new decoder for every packet, and gevent-websocket unmasks
a client's frame one byte at a time in Python; these do the same work once per packet at C speed (the measured
effect is in docs/BENCHMARKS.md). gevent-websocket validates UTF-8 with ``wsaccel`` when it is installed (a
dependency of the edge) and in Python otherwise.
"""

from __future__ import annotations

import json
import re

MAX_INT_DIGITS = 100  # python-engineio's guard: int() of a huge digit string costs quadratic CPU


def _bounded_int(digits: str) -> int:
    if len(digits) > MAX_INT_DIGITS:
        raise ValueError("Integer is too large")
    return int(digits)


_DECODER = json.JSONDecoder(parse_int=_bounded_int)
_PLAIN = json.JSONDecoder()  # integers parsed in C: the hook above costs a Python call for every one
# Without a run of more digits than the guard allows, no integer in the text can be over it: such a packet
# (every packet the page sends) is read by the plain decoder, to the same values.
_LONG_DIGITS = re.compile(rf"\d{{{MAX_INT_DIGITS + 1}}}")
_COMPACT = json.JSONEncoder(separators=(",", ":"))


class SocketJson:
    """The ``json`` module python-socketio and python-engineio are given: made once, engineio's integer guard kept."""

    @staticmethod
    def loads(s, **kw):
        if kw:
            return json.loads(s, **{"parse_int": _bounded_int, **kw})
        if isinstance(s, (bytes, bytearray)):
            s = s.decode("utf-8")
        return (_PLAIN if _LONG_DIGITS.search(s) is None else _DECODER).decode(s)

    @staticmethod
    def dumps(obj, **kw):
        if kw == {"separators": (",", ":")}:  # what both libraries ask for on every packet they send
            return _COMPACT.encode(obj)
        return json.dumps(obj, **kw)


def unmask(header, payload) -> bytearray:
    """A client frame's payload XOR its 4-byte mask (RFC 6455, 5.3), as one big-integer operation."""
    n = len(payload)
    if not n:
        return bytearray()
    mask = (bytes(header.mask) * (n // 4 + 1))[:n]
    return bytearray((int.from_bytes(payload, "little") ^ int.from_bytes(mask, "little")).to_bytes(n, "little"))


def speed_up_websockets() -> bool:
    """Use ``unmask`` in gevent-websocket (the edge's default WebSocket server); False when it is not installed."""
    try:
        from geventwebsocket.websocket import Header
    except ImportError:
        return False
    Header.mask_payload = Header.unmask_payload = unmask
    return True
