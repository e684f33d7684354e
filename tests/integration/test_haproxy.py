"""HAProxy (ops/haproxy/haproxy.cfg) in front of two `inkbus edge` processes and one `inkbus worker`.

One edge is SIGKILLed under HTTP and Socket.IO traffic: new connections and recognitions keep succeeding through
the other, the killed edge's Socket.IO clients reconnect and draw again, and every HTTP recognition is answered.
"""

from __future__ import annotations

import os
import subprocess
import threading

import pytest
import requests

from foundation.settings import REPO_ROOT
from tests.external import tool
from tests.helpers import Proc, free_port, http_ok, inkbus_cmd, load_json, sample_ink, wait_until
from tests.socket_client import DrawingClient

HAPROXY_CFG = REPO_ROOT / "ops" / "haproxy" / "haproxy.cfg"
COOKIE = "inkbus_edge"  # the cookie haproxy.cfg pins Socket.IO sessions with


@pytest.fixture(scope="module")
def haproxy_bin() -> str:
    return tool("haproxy", "Debian's haproxy, the ops-tools target")


def _env(settings, **extra) -> dict:
    return {
        "INKBUS_BROKER_URL": settings.broker_url,
        "INKBUS_MODEL_PATH": str(settings.model_path),
        "INKBUS_LOG_JSON": "false",
        "INKBUS_WORKER_METRICS_PORT": "0",  # several workers may share this machine
        "INKBUS_PROXY_HOPS": "1",  # HAProxy forwards the client's address (option forwardfor)
        "INKBUS_RATE_LIMIT_RECOGNIZE": settings.rate_limit_recognize,  # the load below is one client, back to back
        **extra,
    }


def test_haproxy_config_is_valid(haproxy_bin):
    env = {
        "INKBUS_LB_BIND": f"127.0.0.1:{free_port()}",
        "INKBUS_EDGE1_ADDR": "127.0.0.1:1",
        "INKBUS_EDGE2_ADDR": "127.0.0.1:2",
    }
    res = subprocess.run([haproxy_bin, "-c", "-f", str(HAPROXY_CFG)], env={**os.environ, **env}, capture_output=True)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()


class HttpLoad:
    """Threads posting recognitions through the LB; a refused or failed attempt is retried until it is answered."""

    def __init__(self, url: str, ink: dict, threads: int = 3):
        self.url, self.ink = url, ink
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answered: list[tuple[str, str]] = []  # (edge that answered, top label), one per request
        self.retried = 0  # requests that needed more than one attempt
        self.attempts_failed = 0
        self.lost: list[str] = []  # requests still unanswered after every attempt: must stay empty
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def count(self) -> int:
        with self.lock:
            return len(self.answered)

    def _one(self) -> None:
        last = ""
        for attempt in range(20):
            try:
                r = requests.post(self.url + "/api/v1/recognize", json=self.ink, timeout=15)
                if r.status_code == 200:
                    with self.lock:
                        self.answered.append((r.headers.get("X-Inkbus-Edge", "?"), r.json()["top"][0]["label"]))
                        self.retried += attempt > 0
                    return
                last = f"{r.status_code} {r.text[:200]}"
            except requests.RequestException as exc:
                last = repr(exc)
            with self.lock:
                self.attempts_failed += 1
            self.stop.wait(0.2)
        with self.lock:
            self.lost.append(last)

    def _run(self) -> None:
        while not self.stop.is_set():
            self._one()


def _edge_of(client: DrawingClient) -> str | None:
    return client.sio.eio.http.cookies.get(COOKIE) if client.sio.eio.http else None


def _draw_and_predict(client: DrawingClient, sample: dict) -> dict | None:
    seq = client.draw(sample["strokes"])
    return client.prediction(seq, timeout=30) if seq else None


def test_killing_an_edge_behind_haproxy_loses_nothing(haproxy_bin, settings, rabbit_url, clean_bus, tmp_path):
    ports = {"edge1": free_port(), "edge2": free_port(), "lb": free_port()}
    env = _env(settings)
    procs: dict[str, Proc] = {"worker": Proc(inkbus_cmd("worker"), env, tmp_path / "worker.log")}
    clients: list[DrawingClient] = []
    try:
        for name in ("edge1", "edge2"):
            procs[name] = Proc(inkbus_cmd("edge", "--port", str(ports[name])), env, tmp_path / f"{name}.log")
        for name in ("edge1", "edge2"):
            wait_until(lambda n=name: http_ok(f"http://127.0.0.1:{ports[n]}/readyz"), 90, what=f"{name} ready")
        lb_env = {
            "INKBUS_LB_BIND": f"127.0.0.1:{ports['lb']}",
            "INKBUS_EDGE1_ADDR": f"127.0.0.1:{ports['edge1']}",
            "INKBUS_EDGE2_ADDR": f"127.0.0.1:{ports['edge2']}",
        }
        procs["haproxy"] = Proc([haproxy_bin, "-db", "-f", str(HAPROXY_CFG)], lb_env, tmp_path / "haproxy.log")
        lb = f"http://127.0.0.1:{ports['lb']}"
        digit = load_json("digit_7.json")

        # Both edges pass the /readyz health check and take traffic.
        seen: set[str] = set()

        def both_up():
            try:
                r = requests.get(lb + "/healthz", timeout=2)
                seen.add(r.headers.get("X-Inkbus-Edge", ""))
            except requests.RequestException:
                pass
            return {"edge1", "edge2"} <= seen

        wait_until(
            both_up, 30, interval=0.2, what=f"HAProxy sending traffic to both edges ({procs['haproxy'].output()})"
        )

        # Socket.IO drawers over polling first (the transport that needs stickiness), then upgraded to WebSocket.
        samples = sample_ink()
        for i in range(4):
            c = DrawingClient(lb, transports=["polling", "websocket"], timeout=20)
            c.sio.reconnection = True  # like the page: a dropped connection comes back by itself
            clients.append(c)
            assert _draw_and_predict(c, samples[i]) is not None, f"client {i} got no prediction"
        by_edge = {c: _edge_of(c) for c in clients}
        assert set(by_edge.values()) == {"edge1", "edge2"}, by_edge
        victims = [c for c, e in by_edge.items() if e == "edge1"]
        old_sids = {c: c.sio.eio.sid for c in victims}

        with HttpLoad(lb, digit) as load:
            wait_until(lambda: load.count() >= 20, 120, what="recognitions through the LB before the kill")
            assert {e for e, _ in load.answered} == {"edge1", "edge2"}
            procs["edge1"].kill()  # SIGKILL under traffic: no drain, no goodbye
            killed_at = load.count()

            # New connections keep working, through edge2.
            fresh = DrawingClient(lb, transports=["polling", "websocket"], timeout=20)
            clients.append(fresh)
            assert _draw_and_predict(fresh, samples[5]) is not None
            assert _edge_of(fresh) == "edge2"

            # The killed edge's drawers reconnect (a new session on edge2) and carry on drawing.
            for c in victims:
                wait_until(
                    lambda c=c: c.sio.connected and c.sio.eio.sid not in (None, old_sids[c]),
                    60,
                    interval=0.2,
                    what="a client of the killed edge reconnecting",
                )
                assert _edge_of(c) == "edge2"
                assert _draw_and_predict(c, samples[6]) is not None

            wait_until(lambda: load.count() >= killed_at + 30, 120, what="recognitions after the kill")

        after = load.answered[killed_at + 5 :]  # a few may have been answered by edge1 just before it died
        assert after and {e for e, _ in after} == {"edge2"}
        assert load.lost == [], f"recognitions never answered: {load.lost[:3]}"
        assert all(label == digit["label"] for _, label in load.answered)
        print(
            f"HTTP recognitions answered: {len(load.answered)} ({killed_at} before the kill), "
            f"retried by the client: {load.retried}, failed attempts: {load.attempts_failed}, lost: 0"
        )
    finally:
        for c in clients:
            try:
                c.sio.reconnection = False
                c.close()
            except Exception:
                pass
        for p in procs.values():
            p.kill()
