from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, embedded_server
from tests.external import missing


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def server(settings, tmp_path_factory):
    """The embedded default on the in-process transport; a module may override it (its own store, say)."""
    with embedded_server(settings, tmp_path_factory.mktemp("e2e")) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        missing(f"{CHROMIUM} is missing: `make install-test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    # A high-density screen: the canvas must draw at devicePixelRatio, not blurry CSS pixels.
    context = browser.new_context(viewport={"width": 1100, "height": 760}, device_scale_factor=2)
    context.set_default_timeout(WAIT_MS)
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.goto(server + "/")
    pg.wait_for_selector("#conn[data-state=live]")
    yield pg
    context.close()
    assert problems == []
