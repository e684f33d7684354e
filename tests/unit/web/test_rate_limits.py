"""Rate limits at the HTTP doors, per client address, with Flask-Limiter's in-memory storage (Redis: integration)."""

from __future__ import annotations

import pytest

from web.app import create_app

INK = {"strokes": [[[0, 0], [10, 40]]]}


def edge(settings, **limits):
    app, _ = create_app(settings.model_copy(update=limits), broker_url="memory://", start_bridge=False, store=None)
    return app


def post(http, path, addr, **kw):
    return http.post(path, environ_base={"REMOTE_ADDR": addr}, **kw)


def assert_limited(res):
    assert res.status_code == 429
    assert res.get_json()["error"]["code"] == "rate_limited"
    assert int(res.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("setting", "path", "kw"),
    [
        ("rate_limit_recognize", "/api/v1/recognize", {"json": INK}),
        ("rate_limit_chat", "/api/v1/chat", {"json": {"text": "help"}}),
        ("rate_limit_chatbots", "/api/v1/slack/commands", {"data": "text=help"}),
        ("rate_limit_chatbots", "/api/v1/discord/interactions", {"json": {"type": 1}}),
    ],
)
def test_each_door_answers_429_rate_limited_with_retry_after_per_client(settings, setting, path, kw):
    http = edge(settings, **{setting: "3/minute"}).test_client()
    first = [post(http, path, "10.0.0.1", **kw).status_code for _ in range(3)]
    assert 429 not in first  # whatever the door answers (503 without workers, 404 while Slack is off)
    assert_limited(post(http, path, "10.0.0.1", **kw))
    assert post(http, path, "10.0.0.2", **kw).status_code != 429  # another client has its own budget


def test_the_doors_count_separately_and_health_is_never_limited(settings):
    http = edge(settings, rate_limit_recognize="1/minute", rate_limit_chat="1/minute").test_client()
    assert post(http, "/api/v1/recognize", "10.0.0.3", json=INK).status_code != 429
    assert post(http, "/api/v1/chat", "10.0.0.3", json={"text": "help"}).status_code == 200
    assert_limited(post(http, "/api/v1/chat", "10.0.0.3", json={"text": "help"}))
    assert all(http.get("/healthz", environ_base={"REMOTE_ADDR": "10.0.0.3"}).status_code == 200 for _ in range(5))


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(settings):
    http = edge(settings, rate_limit_chat="1/minute", proxy_hops=1).test_client()

    def ask(client_addr):
        headers = {"X-Forwarded-For": client_addr}
        return post(http, "/api/v1/chat", "10.9.9.9", json={"text": "help"}, headers=headers).status_code

    assert [ask("203.0.113.1"), ask("203.0.113.2"), ask("203.0.113.1")] == [200, 200, 429]
