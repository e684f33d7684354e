"""The drawing page in a real headless Chromium (Debian's), driven by Playwright from PyPI.

Never ``playwright install``: it downloads a browser of its own. The page is drawn on with mouse moves along
real ink from tests/data, and the test reads the guess the page shows. It leaves screenshots in .artifacts/
and refreshes docs/img/drawing-page.png, which the README shows.
"""

from __future__ import annotations

import pytest

from tests.e2e.browser import draw, publish_to_docs, sample, screenshot, wait_for_answer

pytestmark = pytest.mark.e2e

DIGIT, LETTER = "3", "h"  # samples the trained model gets right (checked against models/inknet.pt)


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
    publish_to_docs(shot, "drawing-page.png")


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
