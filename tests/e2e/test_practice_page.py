"""Practice and chat on the drawing page, in Debian's headless Chromium, on the embedded default with no tokens:
practise a character, see the grade and the hint, ask ``stats`` in the chat panel and see it."""

from __future__ import annotations

import pytest

from tests.e2e.browser import draw, embedded_server, sample, screenshot, wait_for_answer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(settings, tmp_path_factory):
    """``inkbus run`` on the in-process transport, with its own progress store."""
    tmp = tmp_path_factory.mktemp("practice")
    with embedded_server(settings, tmp, INKBUS_DATABASE_URL=f"sqlite:///{tmp / 'progress.db'}") as base:
        yield base


def test_practise_a_character_see_the_grade_and_hint_then_ask_stats(page):
    page.fill("#learner", "ann")
    page.dispatch_event("#learner", "change")
    page.fill("#chat-input", "practice 3")
    page.press("#chat-input", "Enter")
    page.wait_for_function("() => document.querySelector('#target').value === '3'")
    assert page.locator("#target-tip").inner_text() != ""

    draw(page, sample("3")["strokes"])
    page.click("#check")
    page.wait_for_function("() => ['correct', 'incorrect'].includes(document.querySelector('#grade').dataset.state)")
    assert page.locator("#grade").get_attribute("data-state") == "correct"
    assert page.locator("#grade-verdict").inner_text().startswith("Correct! 3")

    page.keyboard.press("Escape")  # a miss: a 7 drawn for the target 3 gets graded and a hint
    draw(page, sample("7")["strokes"])
    page.click("#check")
    page.wait_for_function("() => document.querySelector('#grade').dataset.state === 'incorrect'")
    assert "looks like" in page.locator("#grade-verdict").inner_text()
    assert page.locator("#grade-hint").inner_text().startswith("your 3 looks like")
    assert page.locator("#chat-log li", has_text="✗ 3").count() == 1  # the feedback is in the chat panel too

    page.fill("#chat-input", "stats")
    page.press("#chat-input", "Enter")
    reply = page.locator("#chat-log li", has_text="Progress of ann")
    reply.wait_for()
    assert "Attempts" in reply.inner_text() and "50%" in reply.inner_text()
    page.wait_for_function("() => document.querySelector('#progress').textContent.includes('2 attempts')")
    screenshot(page, "practice-page.png")


# A round zero (an oval, one stroke) and a plain vertical bar: drawn by people for 0 and 1 all the time, and
# the very shapes of o / O and l / I. In practice the target is known, so both are good answers.
ROUND_ZERO = [[[50, 0], [22, 8], [6, 30], [2, 55], [10, 80], [30, 97], [55, 100], [78, 90], [94, 65], [98, 40],
               [88, 15], [70, 3], [50, 0]]]  # fmt: skip
PLAIN_BAR = [[[0, 0], [0, 25], [0, 50], [0, 75], [0, 100]]]


@pytest.mark.parametrize("target,strokes", [("0", ROUND_ZERO), ("1", PLAIN_BAR)])
def test_a_round_zero_and_a_plain_bar_are_graded_correct_in_practice(page, target, strokes):
    page.fill("#chat-input", f"practice {target}")
    page.press("#chat-input", "Enter")
    page.wait_for_function(f"() => document.querySelector('#target').value === '{target}'")
    draw(page, strokes)
    wait_for_answer(page)
    # Free drawing is honest about the shape: the guess shows the shape group, not one confident twin.
    if page.locator("#top1").get_attribute("data-shape") == "group":
        assert " / " in page.locator("#top1").inner_text()
    page.click("#check")
    page.wait_for_function("() => ['correct', 'incorrect'].includes(document.querySelector('#grade').dataset.state)")
    verdict = page.locator("#grade-verdict").inner_text()
    assert page.locator("#grade").get_attribute("data-state") == "correct", verdict
    assert verdict.startswith(f"Correct! {target}")
    screenshot(page, f"practice-{target}.png")
