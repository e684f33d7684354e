"""The Socket.IO protocol module (web/static/inkbus-socket.js) imported by another page, in headless Chromium.

The page here is not the drawing page: it loads socket.io-client from /vendor/ and imports the module, as
docs/PROTOCOL.md shows, then draws real ink through it, undoes, practises, and checks what comes back.
"""

from __future__ import annotations

import pytest

from foundation.version import __version__
from tests.e2e.browser import WAIT_MS, sample

pytestmark = pytest.mark.e2e

DIGIT = "3"  # a sample the shipped model gets right (the drawing page's tests use it too)

SCRIPT = """async ([strokes, target]) => {
  const m = await import("/static/inkbus-socket.js");
  const ink = new m.InkbusSocket({ limits: { maxPointsPerMessage: 16 } });  // small chunks: several per stroke
  const predictions = [], acks = [], sent = [];
  ink.on("prediction", (p) => predictions.push(p));
  ink.on("ack", (a) => acks.push(a.seq));
  const emit = ink.socket.emit.bind(ink.socket);
  ink.socket.emit = (ev, payload, ...rest) => {
    sent.push([ev, payload && payload.points ? payload.points.length : 0, Boolean(payload && payload.final)]);
    return emit(ev, payload, ...rest);
  };
  // The answer to the newest acknowledged action (older ones may be superseded and never answered).
  const answer = () => new Promise((resolve) => {
    const t = setInterval(() => {
      const p = predictions.find((x) => acks.length && x.seq === acks[acks.length - 1]);
      if (p) { clearInterval(t); resolve(p); }
    }, 20);
  });
  await new Promise((resolve) => ink.on("status", resolve));
  for (const s of strokes) {
    ink.beginStroke();
    for (const p of s) ink.addPoint(p);
    ink.flush();
    ink.endStroke();
  }
  const drawn = await answer();
  ink.beginStroke();                                             // a stray stroke, then undo it
  ink.addPoint([0, 0, 0]); ink.addPoint([1000, 1000, 50]);
  ink.endStroke();
  await answer();
  ink.undo();
  const undone = await answer();
  const feedback = new Promise((resolve) => ink.on("feedback", resolve));
  const ack = await ink.check(target);
  const verdict = await feedback;
  ink.close();
  return { version: m.PROTOCOL_VERSION, drawn, undone, ack, verdict, sent, seqs: predictions.map((p) => p.seq) };
}"""


def test_another_page_imports_the_module_and_draws_through_it(browser, server):
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(server + "/api/docs")  # any page of the edge's origin
    page.add_script_tag(url="/vendor/socket.io.min.js")
    strokes = sample(DIGIT)["strokes"]
    # the module drops a point that repeats the last position
    points = sum(1 + sum(p[:2] != q[:2] for p, q in zip(s[1:], s, strict=False)) for s in strokes)
    out = page.evaluate(SCRIPT, [strokes, DIGIT])
    context.close()

    assert problems == []
    assert out["version"] == __version__  # versioned with the OpenAPI document
    assert out["drawn"]["top"][0]["label"] == DIGIT
    assert out["undone"]["top"][0]["label"] == DIGIT and out["undone"]["seq"] > out["drawn"]["seq"]
    assert out["ack"]["ok"] is True and out["verdict"]["job_id"] == out["ack"]["job_id"]
    assert out["verdict"]["target"] == DIGIT and out["verdict"]["correct"] is True
    strokes_sent = [s for s in out["sent"] if s[0] == "stroke"]
    assert max(n for _, n, _ in strokes_sent) <= 16  # chunked to the limit it was given
    assert sum(n for _, n, _ in strokes_sent) == points + 2  # every point sent once
    assert sum(1 for *_, final in strokes_sent if final) == len(strokes) + 1  # one pen-up per stroke
    assert out["seqs"] == sorted(set(out["seqs"]))  # never an older answer after a newer one, never one twice
