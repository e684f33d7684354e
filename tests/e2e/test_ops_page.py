"""The ops page (/ops) in Debian's headless Chromium: live figures that update, and a screenshot for the docs."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.browser import ARTIFACTS, publish_to_docs
from tests.helpers import load_json, sample_ink

pytestmark = pytest.mark.e2e


def test_the_ops_page_shows_live_state(browser, server):
    for row in sample_ink()[:6]:  # some traffic, so the figures have something to show
        assert requests.post(server + "/api/v1/recognize", json={"strokes": row["strokes"]}, timeout=15).ok
    bad = requests.post(server + "/api/v1/recognize", json={"strokes": [[[1, 2]]]}, timeout=15)
    assert bad.status_code == 422
    context = browser.new_context(viewport={"width": 1200, "height": 820})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(server + "/ops")
    page.wait_for_function("() => document.body.dataset.state === 'live'", timeout=30_000)
    # It keeps polling: the poll counter moves without a reload.
    page.wait_for_function("() => Number(document.body.dataset.polls) >= 2", timeout=10_000)
    assert page.locator("li[data-component=broker]").get_attribute("data-state") == "up"
    assert page.locator("li[data-component=workers]").get_attribute("data-state") == "up"
    assert page.locator("li[data-component=sink]").get_attribute("data-state") == "absent"
    assert float(page.locator("#rate").inner_text()) > 0
    for q in ("#p50", "#p95", "#p99"):
        assert page.locator(q).inner_text().endswith(" ms")
    assert page.locator("#model").inner_text() not in ("", "—")
    assert page.locator("#errors").inner_text() == "1" and "degenerate_ink" in page.locator("#error-codes").inner_text()
    assert page.locator("#consumers").inner_text() == "1"
    requests.post(server + "/api/v1/recognize", json=load_json("digit_7.json"), timeout=15)
    page.wait_for_timeout(1500)  # one more poll, so the chart has a line
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ops-page.png"), full_page=True)
    publish_to_docs(ARTIFACTS / "ops-page.png", "ops-page.png")
    context.close()
    assert problems == []
