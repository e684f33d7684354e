"""Keep the garbage collector's full passes short in the long-running edge and worker processes.

A full (generation 2) collection walks every tracked object, and every job that arrives meanwhile
waits: under load those waits were the p99 (timed with ``gc.callbacks`` during ``inkbus bench``;
figures in docs/WORKERS.md, "Garbage collection").
Nearly all of what such a pass walks never dies: modules, torch and the TorchScript model, the
Flask and Celery apps, all built at start-up. ``gc.freeze()`` moves what is alive at that moment to
a permanent generation that collections skip; garbage made later is collected as before.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect once, then exempt every surviving object from future collections; returns how many."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
