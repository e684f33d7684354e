"""Structured logs: one JSON object a line on every process, plain text for a person at a terminal."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time


class JsonFormatter(logging.Formatter):
    _skip = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        out.update({k: v for k, v in record.__dict__.items() if k not in self._skip})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class LogLimiter:
    """At most ``burst`` log lines per key (a connection, say) in each ``window_s``; the rest are counted
    and reported with the next line that gets through, so a flood of one client's garbage costs a few lines."""

    def __init__(self, burst: int = 5, window_s: float = 60.0, max_keys: int = 10_000, clock=time.monotonic):
        self.burst, self.window_s, self.max_keys, self.clock = burst, window_s, max_keys, clock
        self._keys: dict[str, list] = {}  # key -> [window start, lines in window, suppressed]
        self._lock = threading.Lock()

    def allow(self, key: str) -> tuple[bool, int]:
        """(log this one?, lines suppressed since the last one logged for this key)."""
        now = self.clock()
        with self._lock:
            if len(self._keys) >= self.max_keys and key not in self._keys:
                self._keys.clear()  # bounded memory; at worst a few more lines
            state = self._keys.setdefault(key, [now, 0, 0])
            if now - state[0] >= self.window_s:
                state[0], state[1] = now, 0
            if state[1] < self.burst:
                state[1] += 1
                suppressed, state[2] = state[2], 0
                return True, suppressed
            state[2] += 1
            return False, 0

    def forget(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)


def quiet_library_logger(name: str, level: int = logging.WARNING) -> logging.Logger:
    """A library logger that goes through the root's (JSON) handler only. Passing a Logger object to
    python-socketio/engineio stops them adding a plain StreamHandler of their own, which printed
    every error a second time as a multi-line traceback."""
    logger = logging.getLogger(name)
    logger.setLevel(level)
    return logger


def route_gevent_errors() -> None:
    """gevent prints a greenlet's or a threadpool task's unhandled error as a plain multi-line traceback
    on stderr: send it through logging instead, so it is one JSON line like every other."""
    hub = sys.modules.get("gevent.hub")
    if hub is None:
        return

    def print_exception(_hub, context, exc_type, value, tb):
        logging.getLogger("inkbus.gevent").error("unhandled error in %s", context, exc_info=(exc_type, value, tb))

    hub.Hub.print_exception = print_exception


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def wants_json(as_json: bool | None, stream=None) -> bool:
    """``INKBUS_LOG_JSON`` when set; otherwise JSON for log shippers and plain text for a terminal."""
    if as_json is not None:
        return as_json
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return not (isatty is not None and isatty())


def setup_logging(level: str = "INFO", as_json: bool | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if wants_json(as_json) else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    logging.captureWarnings(True)  # warnings (numpy's, say) as log lines, not plain stderr text
    route_gevent_errors()
    root.setLevel(level.upper())
