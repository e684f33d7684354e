from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest
from kombu import Consumer

from bus.connection import connect
from bus.topology import edge_queue
from web.bridge import EdgeBridge

pytestmark = pytest.mark.integration


def pytest_collection_modifyitems(items):
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


class Collector:
    """Counts every raw event on a reply route, next to the bridge that delivers each answer once."""

    def __init__(self, settings, url):
        self.raw: Counter = Counter()
        self.delivered: Counter = Counter()
        self.events: dict[str, dict] = {}
        self.bridge = EdgeBridge(
            settings,
            url=url,
            spawn=lambda f: threading.Thread(target=f, daemon=True).start(),
            make_event=threading.Event,
        )
        self.bridge.add_listener(self._deliver)
        self._raw_stop = threading.Event()
        self._raw_conn = connect(settings.broker, url)
        tap = edge_queue(self.bridge.edge_id).bind(self._raw_conn.default_channel)
        tap.name = f"tap-{uuid.uuid4().hex[:8]}"  # a second queue on the same route, to see duplicates
        self._raw_consumer = Consumer(
            self._raw_conn.default_channel, [tap], callbacks=[self._count_raw], accept=["json"], no_ack=True
        )
        self._raw_consumer.consume()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()
        self.bridge.start()
        assert self.bridge._consumer_ready.wait(10)

    @property
    def edge_id(self) -> str:
        return self.bridge.edge_id

    def _count_raw(self, body, message):
        self.raw[body.get("job_id")] += 1

    def _deliver(self, body):
        self.delivered[body["job_id"]] += 1
        self.events[body["job_id"]] = body

    def _drain(self):
        while not self._raw_stop.is_set():
            try:
                self._raw_conn.drain_events(timeout=0.2)
            except TimeoutError:
                pass
            except Exception:
                return

    def close(self):
        self._raw_stop.set()
        self._thread.join(2)
        self.bridge.stop()
        self._raw_conn.release()


@pytest.fixture
def collector(settings, rabbit_url, clean_bus):
    c = Collector(settings, rabbit_url)
    yield c
    c.close()
