"""Container health check, stdlib only (no curl in the slim image): exit 0 healthy, 1 not.

python /app/healthcheck.py                 # GET $INKBUS_HEALTHCHECK_URL, else the edge's /healthz
python /app/healthcheck.py --queue NAME    # NAME has at least one consumer (feedback, bots: no HTTP port)
"""

from __future__ import annotations

import os
import sys
import urllib.request


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=4) as res:  # a URL from our own environment
            return res.status == 200
    except OSError:
        return False


def queue_consumed(name: str) -> bool:
    # The image's packages; imported late so the HTTP check stays cheap.
    from bus.connection import read_queue_stats
    from foundation.settings import Settings

    stats = read_queue_stats(Settings().broker, [name])[name]
    return stats is not None and stats[1] > 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--queue":
        return 0 if queue_consumed(argv[1]) else 1
    port = os.environ.get("INKBUS_PORT", "8000")
    return 0 if http_ok(os.environ.get("INKBUS_HEALTHCHECK_URL", f"http://127.0.0.1:{port}/healthz")) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
