"""Private RabbitMQ and PostgreSQL servers for one test run, on free ports, in a temporary directory.

What pytest-rabbitmq and pytest-postgresql do, with the Debian packages `make test` installs (`rabbitmq-server`,
`postgresql`): each run gets servers of its own, so a fresh machine needs none running, a machine that runs its
own broker on 5672 is left alone, and two runs at once never share a queue or a database.
``INKBUS_TEST_BROKER_URL`` / ``INKBUS_TEST_DATABASE_URL`` point the tests at existing servers instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import free_port, port_open

# The script the Debian wrapper (/usr/sbin/rabbitmq-server) runs after switching to the rabbitmq user: any user
# may run it when every directory it writes to is its own.
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
RABBITMQ_BOOT_S = 120  # a few seconds on a quiet machine; far more on a loaded CI runner


class ServiceError(RuntimeError):
    """A private server could not start; the message says why and where its log is."""


@dataclass
class Service:
    name: str
    url: str
    workdir: Path
    stop_cmds: list[list[str]] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    user: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # what its control tools need to find it

    def ctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """``rabbitmqctl ARGS`` against this node (its name and Erlang cookie), never the host's broker."""
        return subprocess.run(
            [RABBITMQCTL, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=True
        )

    def stop(self) -> None:
        for cmd in self.stop_cmds:
            subprocess.run(cmd, capture_output=True, timeout=60, user=self.user)
        if self.proc is not None and self.proc.poll() is None:
            _kill_group(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    # The server runs in a process group of its own (start_new_session): Erlang's helpers go with it.
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def rabbitmq_server() -> str | None:
    if os.access(RABBITMQ_SERVER, os.X_OK):
        return RABBITMQ_SERVER
    return shutil.which("rabbitmq-server")


def start_rabbitmq(parent: Path | None = None) -> Service:
    """A RabbitMQ node of its own: private node name, ports, database, logs, cookie and no plugins."""
    exe = rabbitmq_server()
    if exe is None:
        raise ServiceError("rabbitmq-server is not installed: `make install-test` installs Debian's rabbitmq-server")
    work = Path(tempfile.mkdtemp(prefix="inkbus-test-rabbitmq-", dir=parent))  # default: the system temp dir
    (work / "enabled_plugins").write_text("[].\n")
    (work / "rabbitmq-env.conf").write_text("")  # the host's /etc/rabbitmq/rabbitmq-env.conf names its own node
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(work),  # a private Erlang cookie
        "RABBITMQ_NODENAME": f"{work.name.replace('_', '-')}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_MNESIA_BASE": str(work / "mnesia"),
        "RABBITMQ_LOG_BASE": str(work / "log"),
        "RABBITMQ_PLUGINS_EXPAND_DIR": str(work / "plugins"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(work / "enabled_plugins"),
        "RABBITMQ_CONF_ENV_FILE": str(work / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(work / "rabbitmq"),  # absent: not the host's /etc/rabbitmq/rabbitmq.conf
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    }
    log = work / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([exe], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    service = Service("rabbitmq", f"amqp://guest:guest@127.0.0.1:{port}//", work, proc=proc, env=env)
    deadline = time.monotonic() + RABBITMQ_BOOT_S
    while not port_open(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            service.stop()
            raise ServiceError(f"private RabbitMQ did not start (exit {proc.poll()}):\n{_log_tail(log)}")
        time.sleep(0.25)
    return service


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def start_postgres(parent: Path | None = None) -> Service:
    """A PostgreSQL cluster of its own (initdb + pg_ctl), trust auth on 127.0.0.1, no fsync: throw-away data."""
    bindir = postgres_bin()
    if bindir is None:
        raise ServiceError("PostgreSQL is not installed: `make install-test` installs Debian's postgresql")
    work = Path(tempfile.mkdtemp(prefix="inkbus-test-postgres-", dir=parent))
    # PostgreSQL refuses to run as root: CI runs as root, so the cluster belongs to the postgres user there.
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        shutil.chown(work, user)
    data, log, port = work / "data", work / "server.log", free_port()
    service = Service("postgresql", f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", work, user=user)
    init = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
    opts = f"-p {port} -k {work} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    start = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start"]
    for cmd in (init, start):
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, user=user)
        if res.returncode != 0:
            service.stop()
            raise ServiceError(f"private PostgreSQL: {' '.join(cmd[:1])} failed:\n{res.stderr}{_log_tail(log)}")
    service.stop_cmds = [[str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]]
    return service
