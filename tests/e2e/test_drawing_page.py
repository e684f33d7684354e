"""The drawing page in a real headless Chromium (Debian's), driven by Playwright from PyPI.

Never ``playwright install``: it downloads a browser of its own. The page is drawn on with mouse moves along
real ink from tests/data, and the test reads the guess the page shows. It leaves screenshots in .artifacts/
and refreshes docs/img/drawing-page.png, which the README shows.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from inkbus.settings import REPO_ROOT
from tests.helpers import Proc, free_port, http_ok, inkbus_cmd, sample_ink, wait_until

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / ".artifacts"
README_SHOT = REPO_ROOT / "docs" / "img" / "drawing-page.png"
DIGIT, LETTER = "3", "h"  # samples the trained model gets right (checked against models/inknet.pt)
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def server(settings, tmp_path_factory):
    """``inkbus run`` (edge + worker in one process, gevent) on the in-process transport: no broker needed."""
    port = free_port()
    env = {
        "INKBUS_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}//",  # unreachable on purpose
        "INKBUS_BROKER_CONNECT_TIMEOUT_S": "0.5",
        "INKBUS_PORT": str(port),
        "INKBUS_MODEL_PATH": str(settings.model_path),
        "INKBUS_LOG_JSON": "false",
    }
    proc = Proc(inkbus_cmd("run"), env, tmp_path_factory.mktemp("e2e") / "run.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(base + "/readyz"), 90, what="inkbus run ready")
    except AssertionError:
        proc.kill()
        raise AssertionError(proc.output()[-3000:]) from None
    yield base
    proc.kill()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        msg = f"{CHROMIUM} is missing: `make install-test` installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
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


def draw(page, strokes: list, fill: float = 0.6) -> None:
    """Mouse moves along ``strokes`` (ink units, y down), scaled to ``fill`` of the canvas and centred."""
    box = page.locator("#pad").bounding_box()
    pts = [p for s in strokes for p in s]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    k = box["width"] * fill / max(max(xs) - min(xs), max(ys) - min(ys), 1)
    ox = box["x"] + box["width"] / 2 - (max(xs) + min(xs)) / 2 * k
    oy = box["y"] + box["height"] / 2 - (max(ys) + min(ys)) / 2 * k
    for stroke in strokes:
        page.mouse.move(ox + stroke[0][0] * k, oy + stroke[0][1] * k)
        page.mouse.down()
        for x, y, *_ in stroke[1:]:
            page.mouse.move(ox + x * k, oy + y * k, steps=2)
        page.mouse.up()


def wait_for_answer(page) -> None:
    """Until the guess on screen answers the latest accepted action (the page records both seqs)."""
    page.wait_for_function(
        "() => { const a = document.body.dataset.ackSeq; const g = document.querySelector('#guess');"
        " return a && g.dataset.seq === a && g.dataset.state === 'guess'; }",
        timeout=WAIT_MS,
    )


def sample(label: str) -> dict:
    return next(r for r in sample_ink() if r["label"] == label)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), scale="css")
    return path


def test_the_page_connects_and_draws_at_device_pixel_ratio(page):
    assert page.evaluate("typeof io") == "function"  # socket.io-client, served from node_modules
    size = page.evaluate(
        "() => { const c = document.querySelector('#pad'), r = c.getBoundingClientRect();"
        " return [c.width, c.height, r.width, r.height, devicePixelRatio]; }"
    )
    width, height, css_w, css_h, dpr = size
    assert dpr == 2 and abs(width - css_w * 2) <= 1 and abs(height - css_h * 2) <= 1
    assert page.locator("#top1").inner_text() == "?"
    pad, result = page.locator(".pad").bounding_box(), page.locator(".result").bounding_box()
    assert pad["x"] + pad["width"] <= result["x"]  # desktop: side by side
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: one column, nothing wider than the screen
    page.wait_for_function("() => document.querySelector('.result').getBoundingClientRect().top > 300")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("#pad").bounding_box()
    assert box["width"] > 300 and page.evaluate("document.querySelector('#pad').width") == round(box["width"] * 2)
    screenshot(page, "drawing-page-phone.png")


def test_a_drawn_digit_and_letter_are_recognised_live(page):
    for label in (DIGIT, LETTER):
        page.keyboard.press("Escape")  # clear
        draw(page, sample(label)["strokes"])
        wait_for_answer(page)
        assert page.locator("#top1").inner_text() == label
        assert page.locator("#top li").count() == 3
        assert page.locator("#top li .label").first.inner_text() == label
        assert page.locator("#model").inner_text() not in ("", "—")
        assert page.locator("#rtt-ms").inner_text().endswith("ms")
        assert page.locator("#edge-ms").inner_text().endswith("ms")
        shot = screenshot(page, f"drawing-page-{label}.png")
    README_SHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, README_SHOT)


def test_a_dot_undo_clear_and_the_keyboard(page):
    box = page.locator("#pad").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # a single dot
    page.wait_for_function("() => document.querySelector('#guess').dataset.state === 'message'")
    assert "dot" in page.locator("#message").inner_text()
    assert page.locator("#top1").inner_text() == "?"
    page.keyboard.press("Control+z")  # undo the dot: back to an empty pad
    page.wait_for_function("() => document.querySelector('#guess').dataset.state === 'idle'")
    draw(page, sample(DIGIT)["strokes"])
    wait_for_answer(page)
    assert page.locator("#top1").inner_text() == DIGIT
    page.keyboard.press("Tab")  # the buttons are reachable and work from the keyboard
    focused = page.evaluate("document.activeElement.id")
    assert focused == "undo"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Clear
    page.wait_for_function("() => document.querySelector('#guess').dataset.state === 'idle'")
    assert page.locator("#top1").inner_text() == "?"
    blank = page.evaluate(
        "() => { const c = document.querySelector('#pad');"
        " return !c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v) => v); }"
    )
    assert blank
    screenshot(page, "drawing-page-cleared.png")
