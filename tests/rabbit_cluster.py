"""A private three-node RabbitMQ cluster on loopback, from the installed ``rabbitmq-server``, for the tests.

Every node has its own node name, AMQP and distribution ports, data and log folders under a temporary
folder, and a private Erlang cookie in a private HOME, so the machine's own RabbitMQ (its node, its
cookie, port 5672) is never touched: every ``rabbitmqctl`` call names its node with ``-n``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.helpers import free_port

# Debian's /usr/sbin scripts re-run themselves as the rabbitmq user (its HOME, its cookie): call the real ones.
_BIN_DIRS = ("/usr/lib/rabbitmq/bin",)


def _tool(name: str) -> str | None:
    for d in _BIN_DIRS:
        if os.access(f"{d}/{name}", os.X_OK):
            return f"{d}/{name}"
    return shutil.which(name)


def cluster_tools_missing() -> str | None:
    """Why a private cluster cannot start here, or None."""
    if not _tool("rabbitmq-server") or not _tool("rabbitmqctl"):
        return "rabbitmq-server and rabbitmqctl are not installed"
    return None


class RabbitNode:
    def __init__(self, root: Path, index: int, home: Path, prefix: str):
        self.name = f"{prefix}-{index}@localhost"
        self.amqp_port, self.dist_port = free_port(), free_port()
        self.base = root / f"node{index}"
        self.home = home
        self.proc: subprocess.Popen | None = None
        self.pid_file = self.base / "rabbit.pid"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}//"

    def env(self) -> dict:
        conf = self.base / "rabbitmq.conf"
        return {
            **os.environ,
            "HOME": str(self.home),  # the private .erlang.cookie lives here
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_CONFIG_FILE": str(conf),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),  # not /etc's: its node name
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def write_config(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.amqp_port}\n"
            "disk_free_limit.absolute = 50MB\n"
            "log.console = false\n"
            "log.file.level = warning\n"
        )
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq-env.conf").write_text("")

    def start(self) -> None:
        self.pid_file.unlink(missing_ok=True)
        log = open(self.base / "server.out", "ab")  # the server writes it while it runs
        self.proc = subprocess.Popen(
            [_tool("rabbitmq-server")], env=self.env(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def ctl(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        res = subprocess.run(
            [_tool("rabbitmqctl"), "-n", self.name, *args],
            env=self.env(), capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check and res.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {self.name} {' '.join(args)}: {res.stdout} {res.stderr}")
        return res.stdout

    def await_startup(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                out = (self.base / "server.out").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.name} exited during boot: {out}")
            try:
                self.ctl("await_startup", "--timeout", "30", timeout=60)
                return
            except (RuntimeError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def os_pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def kill(self) -> None:
        """SIGKILL the Erlang VM: no clean shutdown, connections just break."""
        os.kill(self.os_pid(), signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=60)

    def stop(self) -> None:
        self.ctl("stop", timeout=120, check=False)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def terminate(self) -> None:
        """Best-effort teardown: stop politely, then kill what is left."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.ctl("stop", timeout=60, check=False)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            try:
                os.kill(self.os_pid(), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            self.proc.kill()


class RabbitCluster:
    def __init__(self, root: Path, size: int = 3):
        home = root / "home"
        home.mkdir(parents=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
        prefix = f"inkbus-t{os.getpid()}"
        self.nodes = [RabbitNode(root, i + 1, home, prefix) for i in range(size)]

    def start(self) -> None:
        for node in self.nodes:
            node.write_config()
            node.start()
        for node in self.nodes:
            node.await_startup()
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.name)
            node.ctl("start_app")
        for node in self.nodes:
            node.await_startup()

    def failover_url(self, first: int = 0) -> str:
        """Every node's URL, starting at node ``first``: kombu tries them in turn."""
        order = self.nodes[first:] + self.nodes[:first]
        return ";".join(n.url for n in order)

    def _alive(self) -> list[RabbitNode]:
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def running(self) -> list[str]:
        """The running nodes, as the node that sees most of them says."""
        seen: list[str] = []
        for node in self._alive():
            try:
                out = node.ctl("cluster_status", "--formatter", "json", check=False, timeout=60)
                names = sorted(json.loads(out)["running_nodes"])
            except (ValueError, KeyError, subprocess.TimeoutExpired):
                continue
            seen = max(seen, names, key=len)
        return seen

    def queue_report(self) -> str:
        """Every queue's type, leader, members, consumers and messages, as a running node sees them."""
        cols = ("name", "type", "leader", "members", "online", "consumers", "messages", "state")
        for node in self._alive():
            out = node.ctl("list_queues", *cols, "--formatter", "json", check=False, timeout=60)
            if out.strip().startswith("["):
                return f"queues seen from {node.name}: {out}"
        return "no running node answered"

    def diagnose(self) -> str:
        """Each node's view of the cluster and the end of its log: printed when a wait fails."""
        parts = []
        for node in self.nodes:
            alive = node in self._alive()
            status = node.ctl("cluster_status", check=False, timeout=60) if alive else "(not running)"
            logs = sorted((node.base / "log").glob("*.log"))
            tail = logs[-1].read_text(errors="replace")[-1500:] if logs else ""
            parts.append(f"--- {node.name}\n{status}\n{tail}")
        return "\n".join(parts)

    def queue_leader(self, queue: str) -> RabbitNode:
        for node in self._alive():
            out = node.ctl("list_queues", "name", "leader", "--formatter", "json", check=False, timeout=60)
            try:
                rows = json.loads(out)
            except ValueError:
                continue
            for row in rows:
                if row.get("name") == queue:
                    return next(n for n in self.nodes if n.name == row["leader"])
        raise LookupError(f"no leader found for {queue}")

    def close(self) -> None:
        for node in self.nodes:
            node.terminate()
