"""The edge against a broker that goes quiet, drops its connections or stalls (real RabbitMQ; a TCP proxy
in front of it for the faults). The edge answers every request, or a coded error by its deadline."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import pytest

from tests.helpers import sample_ink
from tests.tcp_proxy import TcpProxy
from web.app import create_app

INK = {"strokes": next(r for r in sample_ink() if r["label"] == "7")["strokes"]}


@pytest.fixture
def proxy(rabbit_url):
    parts = urlsplit(rabbit_url)
    p = TcpProxy(parts.hostname, parts.port or 5672)
    yield p
    p.close()


def _edge(settings, url, **overrides):
    s = settings.model_copy(update=overrides)
    app, _ = create_app(s, broker_url=url)
    bridge = app.extensions["inkbus.bridge"]
    assert bridge._consumer_ready.wait(10)
    return app, bridge


def _burst(http, n: int) -> list[int]:
    return [http.post("/api/v1/recognize", json=INK).status_code for _ in range(n)]


def test_an_idle_edge_keeps_its_pooled_connections(settings, rabbit_url, clean_bus, start_worker):
    # With a 1 s heartbeat the broker closes a connection that says nothing for about 2 s: a pooled
    # publisher connection left idle used to die, and the next burst got 503 broker_unavailable.
    start_worker(rabbit_url)
    app, bridge = _edge(settings, rabbit_url, broker_heartbeat_s=1)
    http = app.test_client()
    try:
        assert _burst(http, 1) == [200]
        time.sleep(4)  # idle for more than three heartbeat intervals
        assert _burst(http, 20) == [200] * 20
        assert bridge.publisher.replaced == 0  # kept alive, not found dead and replaced
        assert http.get("/readyz").status_code == 200
    finally:
        bridge.stop()


def test_dead_pooled_connections_are_replaced_before_broker_unavailable(settings, rabbit_url, clean_bus,
                                                                        start_worker, proxy):  # fmt: skip
    # Every connection the edge holds is cut (a broker restart, a reset by a load balancer): the next
    # requests find dead pooled connections and must reconnect instead of answering 503.
    start_worker(rabbit_url)
    app, bridge = _edge(settings, proxy.url(rabbit_url))
    http = app.test_client()
    try:
        assert _burst(http, 3) == [200] * 3
        assert bridge.job_queue_stats(max_age_s=0) is not None
        proxy.cut()
        bridge._stats_cache = (0.0, None)  # the next request refreshes the stats over a dead connection
        assert bridge.job_queue_stats(max_age_s=0) is not None
        assert _burst(http, 20) == [200] * 20
        assert bridge.publisher.replaced >= 1
    finally:
        bridge.stop()


def test_a_stalled_broker_gets_a_coded_answer_by_the_deadline(settings, rabbit_url, clean_bus, start_worker, proxy):
    # A broker that accepts bytes and answers nothing used to hold requests for 21-70 s: every wait
    # (the stats declare, the channel pool, the confirm, the reply) now ends by the request's deadline.
    start_worker(rabbit_url)
    app, bridge = _edge(settings, proxy.url(rabbit_url), request_timeout_s=3.0, publisher_channels=2)
    http = app.test_client()
    try:
        assert _burst(http, 1) == [200]
        proxy.stall()
        answers: list = []

        def call(method, path, **kw):
            res = getattr(app.test_client(), method)(path, **kw)
            answers.append((path, res.status_code, (res.get_json() or {}).get("error", {}).get("code")))

        def run_all(calls) -> list:
            answers.clear()
            threads = [threading.Thread(target=call, args=c, kwargs=kw, daemon=True) for *c, kw in calls]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)  # generous: the edge's own bounds are a few seconds
            assert not any(t.is_alive() for t in threads), f"still waiting after 60 s: {answers}"
            return list(answers)

        recognize = run_all([("post", "/api/v1/recognize", {"json": INK}) for _ in range(4)])
        assert len(recognize) == 4
        for _, status, code in recognize:
            assert (status, code) in {(503, "broker_unavailable"), (504, "timeout")}, recognize
        assert [a[1] for a in run_all([("get", "/readyz", {})])] == [503]
    finally:
        proxy.resume()
        bridge.stop()
