"""Privacy and rate limits against real services: the store's links, corrections, export, erasure and retention on
PostgreSQL, and rate limit counters in Redis shared by two edges."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.integration.test_tutoring import pg_url  # noqa: F401  (the throw-away PostgreSQL database fixture)

REDIS_URL = os.environ.get("INKBUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
INK = {"strokes": [[[0, 0], [5, 9]]]}


@pytest.fixture(scope="module")
def redis_url():
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable: {exc}")
        pytest.skip(f"Redis is not reachable: {exc}")
    return REDIS_URL


def test_two_edges_share_one_clients_budget_through_redis(settings, redis_url):
    from web.app import create_app

    s = settings.model_copy(update={"rate_limit_storage_url": redis_url, "rate_limit_chat": "3/minute"})
    edges = [create_app(s, broker_url="memory://", start_bridge=False, store=None)[0] for _ in range(2)]
    client = f"10.{uuid.uuid4().int % 250}.{os.getpid() % 250}.{uuid.uuid4().int % 250}"  # fresh counters each run
    other = f"10.251.{os.getpid() % 250}.{uuid.uuid4().int % 250}"

    def ask(app, addr=client):
        return app.test_client().post("/api/v1/chat", json={"text": "help"}, environ_base={"REMOTE_ADDR": addr})

    codes = [ask(edges[i % 2]).status_code for i in range(3)]  # alternating edges, like a load balancer
    assert codes == [200, 200, 200]
    limited = ask(edges[1])
    assert limited.status_code == 429 and limited.get_json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert ask(edges[0], other).status_code == 200


def test_an_unreachable_rate_limit_store_does_not_refuse_requests(settings):
    from web.app import create_app

    s = settings.model_copy(update={"rate_limit_storage_url": "redis://127.0.0.1:1/0", "rate_limit_chat": "2/minute"})
    app, _ = create_app(s, broker_url="memory://", start_bridge=False, store=None)
    http = app.test_client()
    codes = [http.post("/api/v1/chat", json={"text": "help"}).status_code for _ in range(3)]
    assert codes == [200, 200, 429]  # counted in memory meanwhile


def test_privacy_on_postgresql(settings, pg_url):  # noqa: F811
    from tutor.models import Attempt, utcnow
    from tutor.store import open_store

    store = open_store(settings, pg_url)
    for i, who in enumerate(["ann", "ann", "bob"]):
        store.record_attempt(job_id=f"pv-{i}", learner=who, target="4", predicted="9", confidence=0.8,
                             correct=False, ink=INK)  # fmt: skip
    ids = {store.correct_latest("ann", label)[0] for label in "qqqg"}
    assert len(ids) == 1 and [r["label"] for r in store.corrections()] == ["g"]
    code = store.new_link_code("ann", 60)
    assert store.redeem_link_code(code.lower(), "slack:T1:U1") == "ann"
    assert store.redeem_link_code(code, "discord:2") is None  # single use
    assert store.redeem_link_code(store.new_link_code("ann", -1), "discord:2") is None  # expired
    assert store.linked_learner("slack:T1:U1") == "ann" and store.linked_learner("discord:2") is None
    data = store.export("ann")
    assert [a["job_id"] for a in data["attempts"]] == ["pv-0", "pv-1"] and len(data["corrections"]) == 1
    assert data["linked_accounts"][0]["account"] == "slack:T1:U1"
    with store.engine.begin() as conn:
        conn.execute(update(Attempt).where(Attempt.job_id == "pv-2").values(created_at=utcnow() - timedelta(days=9)))
    assert store.purge(7) == {"corrections": 0, "attempts": 1, "link_codes": 0}
    assert store.stats("bob")["attempts"] == 0
    assert store.forget("ann") == 4  # two attempts, one correction, one link
    assert store.counts() == {"learners": 0, "attempts": 0, "corrections": 0}
    store.close()


def test_the_corrections_migration_on_postgresql(settings, postgres_url):
    """Upgrading a store that holds repeated corrections of one attempt keeps the newest one, then enforces one."""
    from tests.helpers import seed_repeated_corrections
    from tests.integration.test_tutoring import throwaway_database
    from tutor.store import make_engine, migrate, open_store

    with throwaway_database(postgres_url) as url:
        engine = make_engine(url)
        migrate(engine, "0001")
        seed_repeated_corrections(engine, "qqg")
        engine.dispose()
        store = open_store(settings, url)
        assert [r["label"] for r in store.corrections()] == ["g"]
        store.correct_latest("ann", "z")
        assert store.counts()["corrections"] == 1
        store.close()
