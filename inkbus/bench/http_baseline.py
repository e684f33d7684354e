"""The usual draw-a-digit design, for comparison: a Flask app with the model in the web process,
one forward pass per HTTP POST, served by Werkzeug's threaded server."""

from __future__ import annotations

import threading
import time

from inkbus.bench.common import load_sample, percentiles


def create_naive_app(model_path):
    from flask import Flask, jsonify, request

    from ml.ink import validate_ink
    from ml.recognizer import Recognizer

    rec = Recognizer(model_path, torch_threads=1)  # its best setting, as for the Celery baseline
    app = Flask("naive")

    @app.post("/recognize")
    def recognize():
        strokes = validate_ink(request.get_json(force=True))
        probs = rec.recognize([strokes]).probs[0]
        return jsonify({"top": rec.top(probs, 3)})

    return app


def serve_naive(model_path, port: int) -> None:
    create_naive_app(model_path).run(host="127.0.0.1", port=port, threaded=True)


def load_http(url: str, clients: int, seconds: float) -> dict:
    """``clients`` threads posting back to back for ``seconds``."""
    import requests

    rows = load_sample(248)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(i: int) -> None:
        nonlocal errors
        session = requests.Session()
        k = i
        while time.monotonic() < stop_at:
            body = {"strokes": rows[k % len(rows)]["strokes"]}
            k += clients
            t = time.perf_counter()
            try:
                ok = session.post(url, json=body, timeout=30).status_code == 200
            except requests.RequestException:
                ok = False
            with lock:
                if ok:
                    latencies.append((time.perf_counter() - t) * 1000)
                else:
                    errors += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    return {
        "clients": clients,
        "throughput_per_s": round(len(latencies) / elapsed, 1),
        "latency_ms": percentiles(latencies),
        "errors": errors,
    }


if __name__ == "__main__":
    import sys

    serve_naive(sys.argv[1], int(sys.argv[2]))
