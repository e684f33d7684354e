"""What the browser tests share: Debian's Chromium and its flags, drawing along ink, screenshots.

Never ``playwright install``: it downloads a browser of its own.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from foundation.settings import REPO_ROOT
from tests.helpers import Proc, free_port, http_ok, inkbus_cmd, sample_ink, wait_until

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
WAIT_MS = 30_000


@contextmanager
def embedded_server(settings, workdir: Path, **env: str):
    """``inkbus run`` (edge + worker in one process, gevent) on the in-process transport: no broker needed."""
    port = free_port()
    full = {
        "INKBUS_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}//",  # unreachable on purpose
        "INKBUS_BROKER_CONNECT_TIMEOUT_S": "0.5",
        "INKBUS_PORT": str(port),
        "INKBUS_MODEL_PATH": str(settings.model_path),
        "INKBUS_LOG_JSON": "false",
        "INKBUS_SECRET_KEY_FILE": str(workdir / "secret.key"),  # identities' key in the test's own directory
        **env,
    }
    proc = Proc(inkbus_cmd("run"), full, workdir / "run.log")
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until(lambda: http_ok(base + "/readyz"), 90, what="inkbus run ready")
        except AssertionError:
            raise AssertionError(proc.output()[-3000:]) from None
        yield base
    finally:
        proc.kill()


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


DOC_IMAGES = REPO_ROOT / "docs" / "img"


def publish_to_docs(shot: Path, name: str) -> None:
    """Refresh a screenshot the docs show, only when asked (``INKBUS_UPDATE_DOC_SCREENSHOTS=1``): a test
    run must not leave the checkout modified. The same test made the committed image."""
    if os.environ.get("INKBUS_UPDATE_DOC_SCREENSHOTS") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOC_IMAGES / name)
