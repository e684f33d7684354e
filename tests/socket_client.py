"""A python-socketio client of the drawing protocol: draws real ink stroke by stroke, prints the prediction.

    python -m tests.socket_client --url http://127.0.0.1:8000 --label 3
    python -m tests.socket_client --index 5 --all      # every prediction, one JSON line each

Also imported by the integration tests (``DrawingClient``). Protocol: docs/PROTOCOL.md, "Socket.IO".
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import socketio

from tests.helpers import sample_ink


class DrawingClient:
    """One connection = one drawing. Collects every ``prediction`` and ``error`` the edge sends."""

    def __init__(self, url: str, transports: list[str] | None = None, timeout: float = 10.0):
        self.timeout = timeout
        self.predictions: list[dict] = []
        self.errors: list[dict] = []
        self._cond = threading.Condition()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("prediction", self._on_prediction)
        self.sio.on("error", self._on_error)
        self.sio.connect(url, transports=transports or ["websocket"], wait_timeout=timeout)

    def _on_prediction(self, data):
        with self._cond:
            self.predictions.append(data)
            self._cond.notify_all()

    def _on_error(self, data):
        with self._cond:
            self.errors.append(data)
            self._cond.notify_all()

    # -- sending
    def send(self, event: str, payload=None, ack: bool = False):
        """Emit one event; with ``ack`` wait for the edge's acknowledgement and return it."""
        if ack:
            return self.sio.call(event, payload, timeout=self.timeout)
        self.sio.emit(event, payload)
        return None

    def draw_stroke(self, stroke_id: int, points: list, chunk: int = 16) -> dict:
        """Stream one stroke in batches of ``chunk`` points, then pen-up; returns the pen-up's ack."""
        points = [[*p, i * 10] if len(p) == 2 else list(p) for i, p in enumerate(points)]
        chunks = [points[i : i + chunk] for i in range(0, len(points), chunk)] or [[]]
        for part in chunks[:-1]:
            self.send("stroke", {"id": stroke_id, "points": part, "final": False})
        return self.send("stroke", {"id": stroke_id, "points": chunks[-1], "final": True}, ack=True)

    def draw(self, strokes: list, first_id: int = 0) -> int:
        """Draw strokes one after another; returns the seq of the last pen-up (0 if none was accepted)."""
        seq = 0
        for i, stroke in enumerate(strokes):
            ack = self.draw_stroke(first_id + i, stroke)
            if ack and ack.get("ok"):
                seq = ack["seq"]
        return seq

    # -- waiting
    def wait_for(self, predicate, timeout: float | None = None):
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while True:
                found = predicate()
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def prediction(self, seq: int, timeout: float | None = None) -> dict | None:
        """The prediction with exactly this seq (None if it did not come in time)."""
        return self.wait_for(lambda: next((p for p in self.predictions if p["seq"] == seq), None), timeout)

    def error(self, code: str, timeout: float | None = None) -> dict | None:
        return self.wait_for(lambda: next((e for e in self.errors if e["code"] == code), None), timeout)

    def close(self) -> None:
        self.sio.disconnect()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Draw an ink sample over Socket.IO and print the prediction.")
    ap.add_argument("--url", default="http://127.0.0.1:8000", help="the edge (default %(default)s)")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--label", help="draw the first sample with this label")
    which.add_argument("--index", type=int, default=0, help="draw sample number N of tests/data/ink_sample.jsonl")
    ap.add_argument("--all", action="store_true", help="print every prediction received, not only the last")
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args(argv)

    samples = sample_ink()
    sample = next((s for s in samples if s["label"] == args.label), None) if args.label else samples[args.index]
    if sample is None:
        print(f"no sample with label {args.label!r}", file=sys.stderr)
        return 2
    with DrawingClient(args.url, timeout=args.timeout) as client:
        seq = client.draw(sample["strokes"])
        final = client.prediction(seq) if seq else None
        for p in client.predictions if args.all else [final] if final else []:
            print(json.dumps({"label": sample["label"], **p}))
        for e in client.errors:
            print(json.dumps({"error": e}), file=sys.stderr)
    return 0 if final else 1


if __name__ == "__main__":
    sys.exit(main())
