"""The telemetry sink against real servers: RabbitMQ in, VictoriaMetrics (InfluxDB v2 write API) out.

VictoriaMetrics stores each field of a line-protocol point as a series ``<measurement>_<field>`` with the
point's tags as labels; the test reads them back through its export API.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest
import requests
from kombu import Producer
from prometheus_client import REGISTRY

from bus.connection import connect, queue_stats
from bus.schemas import FeedbackEvent, Label, PredictionEvent, Timings
from bus.topology import EVENTS_EXCHANGE, event_routing_key, telemetry_queue
from observability.sink import TelemetrySink
from tests.external import tool
from tests.helpers import free_port, wait_until


class VictoriaMetrics:
    def __init__(self, port: int, data_dir):
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        exe = tool("victoria-metrics", "Debian's victoria-metrics")
        args = [exe, f"-storageDataPath={data_dir}", f"-httpListenAddr=127.0.0.1:{port}", "-search.latencyOffset=0s"]
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._healthy, 30, what="victoria-metrics listening")

    def _healthy(self) -> bool:
        try:
            return requests.get(self.url + "/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def export(self, selector: str) -> list[dict]:
        requests.get(self.url + "/internal/force_flush", timeout=5)
        res = requests.get(self.url + "/api/v1/export", params={"match[]": selector}, timeout=5)
        return [json.loads(line) for line in res.text.splitlines() if line.strip()]

    def stop(self) -> None:
        self.p.terminate()
        self.p.wait(15)


def prediction(label: str, p: float) -> PredictionEvent:
    now = time.time()
    return PredictionEvent(
        job_id=f"j-{label}-{time.monotonic_ns()}",
        top=[Label(label=label, p=p)],
        model="inknet-test",
        timings=Timings(queue_ms=3.0, render_ms=0.2, inference_ms=0.8, batch_size=2),
        worker="w1",
        created_at=now - 0.02,
        meta={"source": "socket"},
    )


def feedback(correct: bool) -> FeedbackEvent:
    return FeedbackEvent(
        job_id="j-f",
        mode="practice",
        target="a",
        predicted="a" if correct else "o",
        confidence=0.8,
        correct=correct,
        streak=1 if correct else 0,
        model="inknet-test",
    )


@pytest.fixture
def sink_settings(settings, rabbit_url, tmp_path):
    port = free_port()
    s = settings.model_copy(update={"influx_url": f"http://127.0.0.1:{port}", "sink_flush_interval_s": 0.2})
    conn = connect(s.broker)
    ch = conn.channel()
    q = telemetry_queue(s.queues)(ch)
    q.declare()
    q.purge()
    yield s, port, conn
    conn.release()


def start_sink(s):
    sink = TelemetrySink(s)
    t = threading.Thread(target=sink.run, daemon=True)
    t.start()
    assert sink.ready.wait(15), "sink did not start consuming"
    return sink, t


def publish(conn, events) -> None:
    producer = Producer(conn.channel(), exchange=EVENTS_EXCHANGE, serializer="json")
    for ev in events:
        producer.publish(ev.model_dump(mode="json"), routing_key=event_routing_key(ev.type, None))


def test_sink_writes_predictions_and_feedback_that_read_back(sink_settings, tmp_path):
    s, port, conn = sink_settings
    vm = VictoriaMetrics(port, tmp_path / "vm")
    sink, t = start_sink(s)
    try:
        publish(conn, [prediction("a", 0.91), prediction("b", 0.55), feedback(True), feedback(False)])
        wait_until(lambda: sink.written == 4, 30, what="4 points written")
        conf = wait_until(lambda: vm.export('{__name__="inkbus_prediction_confidence"}'), 20, what="points")
        got = {row["metric"]["label"]: row["values"] for row in conf}
        assert got == {"a": [0.91], "b": [0.55]}
        assert conf[0]["metric"]["model"] == "inknet-test" and conf[0]["metric"]["source"] == "socket"
        correct = wait_until(lambda: vm.export('{__name__="inkbus_feedback_correct"}'), 20, what="feedback")
        assert sorted(v for row in correct for v in row["values"]) == [0, 1]
    finally:
        sink.stop()
        t.join(10)
        vm.stop()


def test_an_outage_of_the_database_loses_nothing(sink_settings, tmp_path):
    s, port, conn = sink_settings
    sink, t = start_sink(s)  # nothing listens on the InfluxDB port yet
    vm = None
    try:
        events = [prediction("x", round(0.5 + i / 100, 2)) for i in range(20)]

        def errors() -> float:
            return REGISTRY.get_sample_value("inkbus_sink_write_errors_total") or 0.0

        before = errors()
        publish(conn, events)
        wait_until(lambda: errors() > before, 20, what="a failed write")
        assert sink.written == 0
        vm = VictoriaMetrics(port, tmp_path / "vm")  # the database comes back
        wait_until(lambda: sink.written == 20, 60, what="the buffered points written after the outage")
        rows = wait_until(lambda: vm.export('{__name__="inkbus_prediction_confidence",label="x"}'), 20, what="rows")
        assert len(rows[0]["values"]) == 20
        ready, _ = queue_stats(conn.channel(), telemetry_queue(s.queues).name)
        assert ready == 0  # every event acked, none left behind
    finally:
        sink.stop()
        t.join(10)
        if vm:
            vm.stop()
