"""What both Inkbus Nagios plugins share: the plugin API (exit 0-3, one status line, perfdata) and /readyz.

Standard library only: Nagios runs the plugins with the system python3, outside the app's virtualenv.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


class Parser(argparse.ArgumentParser):
    """Bad arguments are UNKNOWN (3), not argparse's exit 2, which Nagios would read as CRITICAL."""

    def error(self, message):
        finish(UNKNOWN, self.prog, f"bad arguments: {message}")


def parser(prog: str, description: str, warn: float, crit: float) -> Parser:
    p = Parser(prog=prog, description=description)
    p.add_argument("-H", "--host", default="127.0.0.1", help="edge address")
    p.add_argument("-p", "--port", type=int, default=8000, help="edge port")
    p.add_argument("-w", "--warning", type=float, default=warn, help=f"warning threshold (default {warn:g})")
    p.add_argument("-c", "--critical", type=float, default=crit, help=f"critical threshold (default {crit:g})")
    p.add_argument("-t", "--timeout", type=float, default=10.0, help="seconds to wait for the edge")
    return p


def finish(code: int, name: str, text: str, perf: str = "") -> None:
    print(f"{name.upper()} {STATE[code]} - {text}" + (f" | {perf}" if perf else ""))
    sys.exit(code)


def readyz(args) -> tuple[int | None, dict | None, float, str]:
    """(HTTP status, JSON body, seconds taken, error text) of the edge's /readyz."""
    url = f"http://{args.host}:{args.port}/readyz"
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as exc:  # 503 not ready still has a JSON body
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return None, None, time.monotonic() - t0, str(getattr(exc, "reason", exc))
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return status, body if isinstance(body, dict) else None, time.monotonic() - t0, ""


def level(value: float, warn: float, crit: float) -> int:
    """Nagios thresholds: above critical is CRITICAL, above warning is WARNING."""
    return CRITICAL if value > crit else WARNING if value > warn else OK
