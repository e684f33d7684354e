"""Shared helpers: sample ink, free ports, child processes that are always cleaned up."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import requests
from kombu import Message

from foundation.settings import REPO_ROOT

TEST_DATA = REPO_ROOT / "tests" / "data"


# The project's packages, as pyproject.toml ships them (setuptools' include list): one list for every test.
PACKAGES = tuple(
    p.rstrip("*")
    for p in tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"][
        "include"
    ]
)


def sample_ink() -> list[dict]:
    with open(TEST_DATA / "ink_sample.jsonl") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_json(name: str) -> dict:
    return json.loads((TEST_DATA / name).read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def inkbus_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "inkbus.cli", *args]


class Proc:
    """A child process with its output in a log file, killed at the end of the test."""

    def __init__(self, args: list[str], env: dict, log: Path):
        self.log_path = log
        self._fh = open(log, "wb")
        self.p = subprocess.Popen(
            args,
            env={**os.environ, **env},
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self._fh.close()


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def seed_repeated_corrections(engine, labels: str) -> None:
    """One attempt of ``ann`` corrected once per label, as stores before one-correction-per-attempt could hold."""
    from sqlalchemy import insert

    from tutor.models import Attempt, Correction, utcnow

    blank = {"strokes": []}
    with engine.begin() as conn:
        conn.execute(insert(Attempt.__table__).values(
            id=1, job_id="j", learner="ann", target="7", predicted="1", confidence=0.9, correct=False, model="m",
            ink=blank, created_at=utcnow()))  # fmt: skip
        for label in labels:
            conn.execute(insert(Correction.__table__).values(
                attempt_id=1, learner="ann", label=label, ink=blank, created_at=utcnow()))  # fmt: skip


class Ledger:
    """The broker's view of one channel: each delivery tag and how it was settled. Deliveries are real
    ``kombu.Message`` objects, so kombu itself refuses to settle one twice."""

    no_ack_consumers = None  # read by kombu's Message.ack

    def __init__(self):
        self.settled: dict[int, str] = {}
        self._tags = itertools.count(1)

    def basic_ack(self, delivery_tag, multiple=False):
        self.settled[delivery_tag] = "acked"

    def basic_reject(self, delivery_tag, requeue=False):
        self.settled[delivery_tag] = "requeued" if requeue else "dead-lettered"

    def deliver(self, body) -> tuple[dict, Message]:
        return body, Message(body=json.dumps(body), delivery_tag=next(self._tags), channel=self)

    def outcome(self, delivery) -> str | None:
        return self.settled.get(delivery[1].delivery_tag)
