"""Guards in front of the Socket.IO handlers: what the libraries would otherwise answer with silence,
a hang or a traceback in the log.

- A packet that does not decode (bad JSON, an integer over engineio's limit, an empty event) gets an
  ``invalid_event`` error (and an error ack when it asked for one); it counts against the connection's
  token bucket, and its log lines are rate-limited per connection.
- A long-polling POST larger than the frame cap is refused with 413 at once: engineio would close the
  session and then wait for a poll that never comes (90 s and more) before answering.
"""

from __future__ import annotations

import json
import logging
import re

from socketio import packet

from web.sockets import LOG_LIMIT, PACKET, DrawingSessions, EventError

log = logging.getLogger("inkbus.sockets")
_ACK_ID = re.compile(r"[25](?:\d{1,6}-)?(?:/[^,]{0,200},)?(\d{1,15})")
UNREADABLE = "the packet is not an event this edge can read (JSON array [name, payload], finite numbers, no binary)"


def _ack_id(data) -> int | None:
    m = _ACK_ID.match(data) if isinstance(data, str) else None
    return int(m.group(1)) if m else None


def guard_packets(socketio, sessions: DrawingSessions) -> None:
    server = socketio.server
    handle = server._handle_eio_message

    def on_message(eio_sid, data):
        # Its length bounds the size check (web/sockets.py, PACKET). Only a plain event's text ("2..."): a
        # binary event's last message is an attachment, and its payload holds the bytes.
        PACKET.chars = len(data) if isinstance(data, str) and data[:1] == "2" else None
        try:
            return handle(eio_sid, data)
        except Exception as exc:  # whatever a packet breaks in the library, the client hears why
            _refuse(server, sessions, eio_sid, data, exc)
        finally:
            PACKET.chars = None

    server.eio.on("message", on_message)


def _refuse(server, sessions: DrawingSessions, eio_sid, data, exc: Exception) -> None:
    sid = server.manager.sid_from_eio_sid(eio_sid, "/")
    if sid is None:
        return
    try:
        sessions.admit(sid, None)  # a flood of garbage is rate limited like any other flood
        err = EventError("invalid_event", UNREADABLE)
    except EventError as limited:
        err = limited
    if sessions.should_tell(sid, err):
        server.emit("error", err.payload(), to=sid)
        ack_id = _ack_id(data)
        if ack_id is not None:
            body = [{"ok": False, **err.payload()}]
            server._send_packet(eio_sid, server.packet_class(packet.ACK, namespace="/", data=body, id=ack_id))
    ok, suppressed = LOG_LIMIT.allow(sid)
    if ok:
        log.warning("unreadable socket packet: %s", str(exc)[:200], extra={"conn_id": sid, "suppressed": suppressed})


def refuse_oversize_polls(app, path: str, max_bytes: int) -> None:
    """WSGI guard: a long-polling POST whose Content-Length is over ``max_bytes`` gets 413 unread."""
    inner = app.wsgi_app
    prefix = "/" + path.strip("/") + "/"
    body = json.dumps(
        {"error": {"code": "payload_too_large", "message": f"a Socket.IO request is at most {max_bytes} bytes"}}
    ).encode()

    def guarded(environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO", "").startswith(prefix):
            length = environ.get("CONTENT_LENGTH") or "0"
            if not length.isdigit() or len(length) > 12 or int(length) > max_bytes:
                headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                           ("Connection", "close")]  # fmt: skip
                start_response("413 Request Entity Too Large", headers)
                return [body]
        return inner(environ, start_response)

    app.wsgi_app = guarded
