"""Edge and worker processes for the live benchmarks, and their CPU use read from /proc."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from foundation.settings import Settings

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


def machine_busy_seconds() -> float:
    """CPU seconds spent busy by the whole machine (all cores), from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICKS


def broker_pid() -> int | None:
    """The local RabbitMQ node's pid (beam.smp), when it runs on this machine."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if b"beam.smp" in (proc / "cmdline").read_bytes() and b"rabbit" in (proc / "cmdline").read_bytes():
                    return int(proc.name)
            except OSError:
                continue
    return None


def self_cpu_seconds() -> float:
    """This process's CPU (the simulated drawers run here)."""
    t = os.times()
    return t.user + t.system


def cpu_snapshot(self_name: str, broker: int | None, **children) -> dict[str, float]:
    """CPU seconds so far of each child (None counts 0), of this process, the broker and the whole machine."""
    out = {name: child.cpu() if child else 0.0 for name, child in children.items()}
    out[self_name] = self_cpu_seconds()
    out["rabbitmq"] = cpu_seconds(broker) if broker else 0.0
    out["machine"] = machine_busy_seconds()
    return out


def cpu_percent(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Percent of one core each spent between two snapshots (``machine`` can reach 100 x cores)."""
    return {k: round((after[k] - before[k]) / seconds * 100, 1) for k in before}


class Child:
    """``inkbus ARGS`` as a process of its own; from another checkout's code when ``tree`` is given."""

    def __init__(self, args: list[str], env: dict, log: Path, tree: Path | None = None):
        self._log = open(log, "wb")
        if tree:  # ``python -m`` puts the working directory first on the path: that checkout's packages load
            env = {**env, "PYTHONPATH": str(tree)}
        self.p = subprocess.Popen(
            [sys.executable, "-m", "inkbus.cli", *args],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=tree,
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


class Group:
    """Several worker processes measured and stopped as one."""

    def __init__(self, children: list[Child]):
        self.children = children

    def cpu(self) -> float:
        return sum(c.cpu() for c in self.children)

    def stop(self) -> None:
        for c in self.children:
            c.stop()


def start_stack(
    settings: Settings, workdir: Path, workers: int = 1, tree: Path | None = None
) -> tuple[Child, Group, str]:
    """``inkbus edge`` (gevent) and ``workers`` ``inkbus worker`` processes; returns them and the edge's URL.

    With ``tree`` (another checkout, e.g. an older commit) its code and its own shipped model serve instead:
    the baseline the live path is compared with in the same sitting. It should get a broker vhost of its own
    (``settings.broker_url``): an older topology may declare queues differently.
    """
    import requests

    port = free_port()
    model = tree / "models" / "inknet.pt" if tree else settings.model_path
    env = {
        "INKBUS_BROKER_URL": settings.broker_url,
        "INKBUS_MODEL_PATH": str(model),
        "INKBUS_RUNTIME": settings.runtime,
        "INKBUS_ONNX_MODEL_PATH": str(settings.onnx_model_path),
        "INKBUS_PORT": str(port),
        "INKBUS_LOG_LEVEL": "WARNING",
        "INKBUS_TORCH_THREADS": str(settings.torch_threads),
        # the benchmark's drawers share one address: raise the per-connection limits out of the way
        "INKBUS_SOCKET_MAX_MESSAGES_PER_S": "1000",
    }
    name = "baseline-" if tree else ""
    group = Group(
        [
            Child(["worker", "--loglevel", "WARNING"], env, workdir / f"{name}worker{i}.log", tree)
            for i in range(workers)
        ]
    )
    edge = Child(["edge"], env, workdir / f"{name}edge.log", tree)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            ready = requests.get(url + "/readyz", timeout=1)
            if ready.status_code == 200 and ready.json().get("workers", 0) >= workers:
                return edge, group, url
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.3)
    edge.stop()
    group.stop()
    raise RuntimeError("edge and workers did not become ready")
