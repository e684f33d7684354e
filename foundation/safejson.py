"""Untrusted JSON bodies and header values, bounded before they are parsed or converted.

Every HTTP door (recognize, chat, the chat services' webhooks) reads its body through ``load_body``:
size, nesting and number lengths are checked first, and ``NaN``/``Infinity`` (which Python's json
accepts, unlike JSON) are refused, so no input reaches ``RecursionError``, ``OverflowError`` or a
quadratic integer conversion. ``bounded_int`` does the same for numeric headers.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate

MAX_DEPTH = 32  # ink needs 4 levels, chat 2, a Discord interaction about 8
MAX_NUMBER_CHARS = 1000  # a longer number literal is refused before it is converted
# A string literal, or an unterminated one up to the end: every attempt consumes, so the scan stays linear.
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class BodyError(ValueError):
    """A body or header refused at the door: ``status``, ``code`` and a message for a person."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def nesting_depth(raw: bytes) -> int:
    """The deepest ``[``/``{`` nesting outside string literals, without parsing (C-speed passes)."""
    brackets = _STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(_STEP[b] for b in brackets), default=0)


def _refuse_constant(name: str):
    raise BodyError(422, "non_finite", f"{name} is not a JSON number: numbers must be finite")


def _number(convert):
    def parse(text: str):
        if len(text) > MAX_NUMBER_CHARS:
            raise BodyError(400, "invalid_json", f"a number is {len(text)} characters; at most {MAX_NUMBER_CHARS}")
        return convert(text)

    return parse


def load_body(raw: bytes | str, max_bytes: int, max_depth: int = MAX_DEPTH):
    """Parse an untrusted JSON body or raise ``BodyError`` (413, 400 or 422 with a code)."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise BodyError(413, "payload_too_large", f"the body is {len(data)} bytes; at most {max_bytes} are accepted")
    if nesting_depth(data) > max_depth:
        raise BodyError(422, "too_deep", f"the JSON nests deeper than {max_depth} levels")
    try:
        return json.loads(data, parse_constant=_refuse_constant, parse_int=_number(int), parse_float=_number(float))
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, BodyError):
            raise
        raise BodyError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


def is_json(content_type: str | None) -> bool:
    """``application/json`` (parameters such as charset allowed): what the JSON doors accept."""
    return (content_type or "").split(";", 1)[0].strip().lower() == "application/json"


def require_json(content_type: str | None) -> None:
    """Refuse other media types, so a cross-site form or ``text/plain`` POST never reaches a JSON door."""
    if not is_json(content_type):
        raise BodyError(415, "unsupported_media_type", "send the body as application/json")


def bounded_int(value: str | None, max_digits: int = 12) -> int | None:
    """A header's non-negative ASCII integer of at most ``max_digits`` digits; None otherwise."""
    if value is None or not (0 < len(value) <= max_digits) or not value.isascii() or not value.isdigit():
        return None
    return int(value)
