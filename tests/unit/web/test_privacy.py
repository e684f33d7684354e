"""Learners own their data: the signed identity, what each caller may read and change, account links by one-time
code, one correction per attempt, export, erasure, retention, and grading that answers while the store is down."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from bus.schemas import FeedbackEvent
from chatbots.core import ChatCore
from chatbots.status import LiveStatus
from tutor.engine import FeedbackEngine
from tutor.models import Attempt, Correction, utcnow
from tutor.store import Store, make_engine, open_store
from web.app import create_app

INK = {"strokes": [[[0, 0], [10, 40]]]}


@pytest.fixture
def store(settings):
    s = open_store(settings, "sqlite://")
    yield s
    s.close()


def attempt(store, job, learner="victim1", target="7", correct=True):
    return store.record_attempt(job_id=job, learner=learner, target=target, predicted=target if correct else "1",
                                confidence=0.9, correct=correct, ink=INK)  # fmt: skip


@pytest.fixture
def app(settings, store):
    app, _ = create_app(settings, broker_url="memory://", start_bridge=False, store=store)
    return app


def learner_of(http) -> str:
    with http.session_transaction() as sess:
        return sess["learner"]


def chat(http, body):
    return http.post("/api/v1/chat", json=body).get_json()["reply"]


# -- identity
def test_the_first_visit_issues_a_signed_httponly_lax_identity_that_stays(app):
    http = app.test_client()
    res = http.get("/")
    cookie = res.headers["Set-Cookie"]
    assert cookie.startswith("inkbus_id=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    me = learner_of(http)
    assert me.startswith("w-") and me in res.get_data(as_text=True)  # the page says who you are
    assert chat(http, {"text": "stats"})["data"]["learner"] == me
    assert "Set-Cookie" in http.get("/").headers and learner_of(http) == me  # a page view renews it
    assert "Set-Cookie" not in http.get("/static/tutor.js").headers  # nothing a shared cache could hand on
    assert "Set-Cookie" not in http.post("/api/v1/chat", json={"text": "help"}).headers
    stranger = app.test_client()
    stranger.set_cookie("inkbus_id", '{"learner": "victim1"}')  # unsigned: not an identity the edge issued
    assert chat(stranger, {"text": "stats"})["data"]["learner"] not in ("victim1", me)


def test_without_a_configured_key_identities_survive_a_restart(settings, tmp_path):
    from pydantic import SecretStr

    s = settings.model_copy(update={"secret_key": SecretStr(""), "secret_key_file": tmp_path / "k" / "secret.key"})
    first, _ = create_app(s, broker_url="memory://", start_bridge=False, store=None)
    http = first.test_client()
    me = learner_of_after_visit(http)
    assert (tmp_path / "k" / "secret.key").stat().st_mode & 0o077 == 0  # readable by its owner only
    again, _ = create_app(s, broker_url="memory://", start_bridge=False, store=None)  # the restarted edge
    cookie = http.get_cookie("inkbus_id").value
    client = again.test_client()
    client.set_cookie("inkbus_id", cookie)
    assert chat(client, {"text": "help"})["ok"] and learner_of(client) == me


def test_stats_of_another_learner_is_refused_on_the_chat_api(app, store):
    attempt(store, "v1")
    http = app.test_client()
    reply = chat(http, {"text": "stats victim1"})
    assert reply["code"] == "forbidden" and "attempts" not in reply["data"]
    typed = chat(http, {"text": "stats", "learner": "victim1"})  # a typed name names nobody
    assert typed["data"]["learner"] != "victim1" and typed["data"]["attempts"] == 0


def test_correct_cannot_relabel_someone_elses_attempt(app, store):
    attempt(store, "v1")
    http = app.test_client()
    assert chat(http, {"text": "correct q", "learner": "victim1"})["code"] == "no_attempt"
    assert chat(http, {"text": "correct q victim1"})["code"] == "invalid_char"
    assert list(store.corrections()) == []


def test_admins_may_read_and_erase_others_learners_may_not(store):
    attempt(store, "v1")
    core = ChatCore(store, LiveStatus(lambda: (0, 1)), admins={"U-ADMIN"})
    assert core.handle("stats victim1", account="slack:T1:U2", user="U2").code == "forbidden"
    assert core.handle("forget victim1", learner="w-someone").code == "forbidden"
    assert core.handle("stats victim1", account="slack:T1:U-ADMIN", user="U-ADMIN").data["attempts"] == 1
    assert core.handle("stats", learner=None).code == "no_identity"
    assert core.handle("forget victim1", account="slack:T1:U-ADMIN", user="U-ADMIN").data["deleted"] == 1


def test_a_learner_name_with_a_trailing_newline_is_no_new_learner(settings, store):
    core = ChatCore(store, LiveStatus(lambda: (0, 1)))
    assert core.handle("stats", learner="ann\n").code == "invalid_learner"
    engine = FeedbackEngine(settings, store, url="memory://")
    [(_, body)] = engine.handle(practice_prediction("job-nl", learner="ann\n"))
    assert body["recorded"] is False and body["attempt_id"] is None
    assert store.counts()["attempts"] == 0


def test_socket_check_records_under_the_connections_identity_not_a_typed_name(app):
    from flask_socketio import SocketIO

    http = app.test_client()
    http.get("/")
    me = learner_of(http)
    bridge = app.extensions["inkbus.bridge"]
    jobs = []
    bridge.job_queue_stats = lambda *a, **k: (0, 1)  # a worker is there; the published job is what we look at
    bridge.submit = jobs.append
    sio: SocketIO = app.extensions["inkbus.socketio"]
    client = sio.test_client(app, flask_test_client=http)
    client.emit("stroke", {"id": 0, "points": [[0, 0], [10, 40]], "final": True}, callback=True)
    ack = client.emit("check", {"target": "7", "learner": "victim1"}, callback=True)
    assert ack["ok"], ack
    practice = [j for j in jobs if j.meta.get("mode") == "practice"]
    assert [j.meta["learner"] for j in practice] == [me]
    anonymous = sio.test_client(app)  # no cookie: the connection gets an identity of its own
    anonymous.emit("stroke", {"id": 0, "points": [[0, 0], [10, 40]], "final": True}, callback=True)
    assert anonymous.emit("check", {"target": "7", "learner": "victim1"}, callback=True)["ok"]
    other = [j.meta["learner"] for j in jobs if j.meta.get("mode") == "practice"][-1]
    assert other.startswith("w-") and other not in (me, "victim1")


# -- corrections
def test_fifty_corrections_of_one_attempt_leave_one_row_with_the_last_label(store):
    attempt(store, "v1")
    ids = {store.correct_latest("victim1", "q" if i < 49 else "g")[0] for i in range(50)}
    assert len(ids) == 1 and store.counts()["corrections"] == 1
    assert [r["label"] for r in store.corrections()] == ["g"]


def test_the_migration_keeps_the_newest_of_repeated_corrections(settings, tmp_path):
    from tests.helpers import seed_repeated_corrections
    from tutor.store import migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0001")
    seed_repeated_corrections(engine, "qqg")
    store = open_store(settings, f"sqlite:///{tmp_path / 'old.db'}")  # migrates to the newest revision
    assert [r["label"] for r in store.corrections()] == ["g"]
    assert store.correct_latest("ann", "z")[0] == 3 and store.counts()["corrections"] == 1
    store.close()


def test_the_migrations_build_exactly_the_tables_the_models_declare(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from tutor.models import Base

    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


# -- linking chat accounts
def test_a_chat_account_is_linked_only_by_a_fresh_one_time_code(app, store):
    core: ChatCore = app.extensions["inkbus.chat"]
    http = app.test_client()
    me = learner_of_after_visit(http)
    attempt(store, "mine", learner=me)
    account = "slack:T1:U9"
    assert core.handle("stats", account=account, user="U9").data["learner"] == "slack-T1-U9"  # unlinked: its own
    assert core.handle("link ABCD2345", account=account).code == "invalid_code"  # guessed
    reply = chat(http, {"text": "link"})
    code = reply["data"]["code"]
    assert len(code) == 8 and code in reply["title"]
    assert core.handle(f"link {code.lower()}", account=account).ok  # typed in any case
    assert core.handle("stats", account=account).data["attempts"] == 1  # now it practises as me
    assert core.handle(f"link {code}", account="discord:5").code == "invalid_code"  # used once only
    expired = store.new_link_code(me, ttl_s=-1)
    assert core.handle(f"link {expired}", account="discord:5").code == "invalid_code"
    replaced = store.new_link_code(me, ttl_s=60)
    store.new_link_code(me, ttl_s=60)  # asking again voids the previous code
    assert core.handle(f"link {replaced}", account="discord:5").code == "invalid_code"
    assert chat(http, {"text": f"link {code}"})["code"] == "invalid_request"  # codes are used in Slack/Discord
    assert core.handle("unlink", account=account).data == {"unlinked": True}
    assert core.handle("stats", account=account).data["attempts"] == 0


def learner_of_after_visit(http) -> str:
    http.get("/")
    return learner_of(http)


# -- export and erasure
def test_learners_export_and_erase_their_own_data_only(app, store):
    attempt(store, "v1")
    http = app.test_client()
    me = learner_of_after_visit(http)
    attempt(store, "m1", learner=me)
    store.correct_latest(me, "q")
    res = http.get("/api/v1/me/data")
    data = res.get_json()
    assert res.status_code == 200 and "attachment" in res.headers["Content-Disposition"]
    assert data["learner"] == me and [a["job_id"] for a in data["attempts"]] == ["m1"]
    assert data["attempts"][0]["ink"] == INK and [c["label"] for c in data["corrections"]] == ["q"]
    summary = chat(http, {"text": "export"})
    assert summary["data"]["attempts"] == 1 and summary["data"]["corrections"] == 1
    assert chat(http, {"text": "forget"})["data"] == {"deleted": 2}
    assert http.get("/api/v1/me/data").get_json()["attempts"] == []
    assert http.delete("/api/v1/me/data").get_json() == {"deleted": 0}
    assert store.stats("victim1")["attempts"] == 1  # nobody else's data went


def test_the_data_api_says_when_there_is_no_store(settings):
    app, _ = create_app(settings, broker_url="memory://", start_bridge=False, store=None)
    app.extensions["inkbus.store"] = None
    res = app.test_client().get("/api/v1/me/data")
    assert res.status_code == 503 and res.get_json()["error"]["code"] == "store_unavailable"


# -- retention
def age(store, model, days):
    with store.engine.begin() as conn:
        conn.execute(update(model).values(created_at=utcnow() - timedelta(days=days)))


def test_retention_purges_old_attempts_corrections_and_expired_codes(settings, store):
    attempt(store, "old")
    store.correct_latest("victim1", "q")
    store.new_link_code("victim1", ttl_s=-1)
    age(store, Attempt, 400)
    age(store, Correction, 400)
    attempt(store, "new")
    assert store.purge(365) == {"corrections": 1, "attempts": 1, "link_codes": 1}
    assert [a["job_id"] for a in store.export("victim1")["attempts"]] == ["new"]
    engine = FeedbackEngine(settings.model_copy(update={"retention_days": 30}), store, url="memory://")
    age(store, Attempt, 31)
    assert engine.purge_if_due(now=1000.0)["attempts"] == 1
    assert engine.purge_if_due(now=1001.0) is None  # once per INKBUS_RETENTION_INTERVAL_S
    off = FeedbackEngine(settings.model_copy(update={"retention_days": 0}), store, url="memory://")
    assert off.purge_if_due(now=1000.0) is None


def test_inkbus_purge_applies_the_retention_setting(tmp_path, monkeypatch):
    from foundation.settings import Settings
    from inkbus.cli import main

    url = f"sqlite:///{tmp_path / 'p.db'}"
    store = open_store(Settings(), url)
    attempt(store, "old")
    age(store, Attempt, 10)
    monkeypatch.setenv("INKBUS_DATABASE_URL", url)
    monkeypatch.setenv("INKBUS_RETENTION_DAYS", "7")
    out = CliRunner().invoke(main, ["purge"])
    assert out.exit_code == 0, out.output
    assert "1 attempts" in out.output and store.counts()["attempts"] == 0
    monkeypatch.setenv("INKBUS_RETENTION_DAYS", "0")
    assert CliRunner().invoke(main, ["purge"]).exit_code == 2  # retention is off: nothing to do, said so
    store.close()


# -- feedback without the database
def practice_prediction(job_id, learner="w-0123456789abcdef"):
    meta = {"sid": "s1", "mode": "practice", "target": "4", "learner": learner, "ink": INK, "source": "practice"}
    return {"type": "prediction", "job_id": job_id, "reply_to": "edge-1", "top": [{"label": "4", "p": 0.95}],
            "model": "m", "created_at": 1.0, "produced_at": 1.01, "meta": meta}  # fmt: skip


def test_chat_commands_that_need_no_store_answer_while_the_database_is_down():
    down = Store(make_engine("postgresql+psycopg://postgres@127.0.0.1:1/inkbus"))
    core = ChatCore(down, LiveStatus(lambda: (0, 1)))
    assert core.handle("hint 4", account="discord:7").ok
    assert core.handle("stats", account="discord:7").code == "store_unavailable"
    down.close()


def test_grading_answers_when_the_database_is_unreachable(settings):
    down = Store(make_engine("postgresql+psycopg://postgres@127.0.0.1:1/inkbus"))  # nothing listens on port 1
    for store in (down, None):
        engine = FeedbackEngine(settings, store, url="memory://")
        [(rk, body)] = engine.handle(practice_prediction("job-down"))
        ev = FeedbackEvent.model_validate(body)
        assert rk == "feedback.edge-1" and ev.correct is True and ev.recorded is False and ev.attempt_id is None
    down.close()
