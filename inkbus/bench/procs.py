"""Edge and worker processes for the live benchmarks, and their CPU use read from /proc."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from inkbus.settings import Settings

_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its waited-for children, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime + cutime + cstime) / _TICKS


class Child:
    def __init__(self, args: list[str], env: dict, log: Path):
        self._log = open(log, "wb")
        self.p = subprocess.Popen(
            [sys.executable, "-m", "inkbus.cli", *args],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def cpu(self) -> float:
        return cpu_seconds(self.p.pid)

    def stop(self) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self._log.close()


def start_stack(settings: Settings, workdir: Path) -> tuple[Child, Child, str]:
    """``inkbus edge`` (gevent) and one ``inkbus worker``; returns them and the edge's URL once ready."""
    import requests

    port = free_port()
    env = {
        "INKBUS_BROKER_URL": settings.broker_url,
        "INKBUS_MODEL_PATH": str(settings.model_path),
        "INKBUS_PORT": str(port),
        "INKBUS_LOG_LEVEL": "WARNING",
        # the benchmark's drawers share one address: raise the per-connection limits out of the way
        "INKBUS_SOCKET_MAX_MESSAGES_PER_S": "1000",
    }
    worker = Child(["worker", "--loglevel", "WARNING"], env, workdir / "worker.log")
    edge = Child(["edge"], env, workdir / "edge.log")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/readyz", timeout=1).status_code == 200:
                return edge, worker, url
        except requests.RequestException:
            pass
        time.sleep(0.3)
    edge.stop()
    worker.stop()
    raise RuntimeError("edge and worker did not become ready")
