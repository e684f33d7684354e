"""Practice and chat on the drawing page, in Debian's headless Chromium, on the embedded default with no tokens:
practise a character, see the grade and the hint, ask ``stats`` in the chat panel and see it; with the progress
store down, the grade still comes and says it was not saved."""

from __future__ import annotations

import pytest

from tests.e2e.browser import WAIT_MS, draw, embedded_server, sample, screenshot, wait_for_answer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(settings, tmp_path_factory):
    """``inkbus run`` on the in-process transport, with its own progress store."""
    tmp = tmp_path_factory.mktemp("practice")
    with embedded_server(settings, tmp, INKBUS_DATABASE_URL=f"sqlite:///{tmp / 'progress.db'}") as base:
        yield base


def test_practise_a_character_see_the_grade_and_hint_then_ask_stats(page):
    me = page.locator("#learner").inner_text()  # issued by the server on this first visit
    assert me.startswith("w-")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "inkbus_id"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert "inkbus_id" not in page.evaluate("document.cookie")  # page scripts cannot read or forge it
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
    reply = page.locator("#chat-log li", has_text=f"Progress of {me}")
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


@pytest.fixture(scope="module")
def storeless_server(settings, tmp_path_factory):
    """``inkbus run`` whose progress store is a PostgreSQL that nothing answers for."""
    tmp = tmp_path_factory.mktemp("storeless")
    with embedded_server(settings, tmp, INKBUS_DATABASE_URL="postgresql+psycopg://inkbus@127.0.0.1:1/inkbus") as base:
        yield base


def test_without_the_progress_store_the_grade_still_comes_and_says_it_was_not_saved(browser, storeless_server):
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        page.goto(storeless_server + "/")
        page.wait_for_selector("#conn[data-state=live]")
        page.fill("#target", "3")
        draw(page, sample("3")["strokes"])
        page.click("#check")
        # the grade itself is the other tests' business (and the model's): here, that one comes and says so
        page.wait_for_function(
            "() => ['correct', 'incorrect'].includes(document.querySelector('#grade').dataset.state)"
        )
        assert page.locator("#grade").get_attribute("data-recorded") == "false"
        assert "wasn't saved" in page.locator("#grade-hint").inner_text()
    finally:
        context.close()
