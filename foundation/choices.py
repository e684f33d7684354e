"""The allowed values of enum-like settings and options.

Kept apart from ``foundation.settings`` because the CLI needs them before it may import pydantic: gevent and
eventlet must patch the standard library first (``inkbus/cli.py``).
"""

from __future__ import annotations

from typing import Literal, get_args

AsyncMode = Literal["gevent", "threading", "eventlet"]
WorkerPool = Literal["solo", "threads", "prefork"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

ASYNC_MODES: tuple[str, ...] = get_args(AsyncMode)
WORKER_POOLS: tuple[str, ...] = get_args(WorkerPool)
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)
