"""Nagios: `nagios4 -v` validates the object definitions; the plugins run against a live, a stopped and a
stand-in edge and report OK / WARNING / CRITICAL / UNKNOWN with one status line and perfdata."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from foundation.settings import REPO_ROOT
from tests.external import tool
from tests.helpers import Proc, free_port, http_ok, inkbus_cmd, wait_until

NAGIOS = REPO_ROOT / "observability" / "nagios"


@pytest.fixture
def nagios_dir():
    # nagios checks its paths as its own unprivileged user, who cannot enter pytest's private tmp_path.
    path = Path(tempfile.mkdtemp(prefix="inkbus-nagios-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_nagios_validates_the_object_definitions(nagios_dir):
    exe = tool("nagios4", "Debian's nagios4")
    tmp_path = nagios_dir
    spool = tmp_path / "spool"
    spool.mkdir()
    for d in (tmp_path, spool):
        d.chmod(0o777)
    main = {
        "log_file": tmp_path / "nagios.log",
        "cfg_file": NAGIOS / "inkbus.cfg",
        "resource_file": NAGIOS / "resource.cfg",
        "object_cache_file": tmp_path / "objects.cache",
        "precached_object_file": tmp_path / "objects.precache",
        "status_file": tmp_path / "status.dat",
        "temp_file": tmp_path / "nagios.tmp",
        "temp_path": tmp_path,
        "lock_file": tmp_path / "nagios.lock",
        "check_result_path": spool,
        "command_file": tmp_path / "nagios.cmd",
        "state_retention_file": tmp_path / "retention.dat",
    }
    cfg = tmp_path / "nagios.cfg"
    cfg.write_text("".join(f"{k}={v}\n" for k, v in main.items()))
    done = subprocess.run([exe, "-v", str(cfg)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Checked 3 services" in done.stdout and "Total Errors:   0" in done.stdout


def plugin(name: str, *args) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, str(NAGIOS / "plugins" / name), *map(str, args)], capture_output=True, text=True, timeout=30
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout + done.stderr  # the plugin API: one status line
    return done.returncode, lines[0]


@pytest.fixture(scope="module")
def live_edge(settings, tmp_path_factory):
    """``inkbus run`` on the in-process transport: a ready edge with one worker, no broker needed."""
    port = free_port()
    env = {
        "INKBUS_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}//",
        "INKBUS_BROKER_CONNECT_TIMEOUT_S": "0.5",
        "INKBUS_PORT": str(port),
        "INKBUS_MODEL_PATH": str(settings.model_path),
    }
    proc = Proc(inkbus_cmd("run"), env, tmp_path_factory.mktemp("nagios") / "run.log")
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/readyz"), 90, what="inkbus run ready")
        yield port
    finally:
        proc.kill()


def test_plugins_against_a_running_service(live_edge):
    code, line = plugin("check_inkbus_health", "-p", live_edge)
    assert code == 0 and line.startswith("INKBUS_HEALTH OK - edge ready") and "| time=" in line
    assert "workers=1;;;0" in line
    code, line = plugin("check_inkbus_health", "-p", live_edge, "-w", 0, "-c", 60)  # any response time warns
    assert code == 1 and line.startswith("INKBUS_HEALTH WARNING")
    code, line = plugin("check_inkbus_queue", "-p", live_edge, "-w", 10, "-c", 20)
    assert code == 0 and line == "INKBUS_QUEUE OK - 0 job(s) waiting, 1 worker(s) | queued=0;10;20;0 workers=1;;;0"


def test_plugins_against_a_stopped_service():
    port = free_port()
    for name in ("check_inkbus_health", "check_inkbus_queue"):
        code, line = plugin(name, "-p", port)
        assert code == 2 and "CRITICAL" in line and "unreachable" in line


class StandIn(BaseHTTPRequestHandler):
    """An edge whose /readyz answers what the test sets."""

    answer: tuple[int, dict] = (200, {})

    def do_GET(self):
        status, body = self.answer
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args):
        pass


@pytest.fixture
def stand_in():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.mark.parametrize(
    ("answer", "code", "text"),
    [
        ((200, {"broker": True, "workers": 2, "queued": 5}), 0, "OK - 5 job(s) waiting, 2 worker(s)"),
        ((200, {"broker": True, "workers": 2, "queued": 150}), 1, "WARNING - 150 job(s) waiting"),
        ((200, {"broker": True, "workers": 2, "queued": 5000}), 2, "CRITICAL - 5000 job(s) waiting"),
        ((503, {"broker": True, "workers": 0, "queued": 7}), 2, "CRITICAL - 7 job(s) waiting and no worker"),
        ((503, {"broker": False, "workers": 0, "queued": None}), 2, "CRITICAL - broker unreachable"),
    ],
)
def test_queue_thresholds(stand_in, answer, code, text):
    StandIn.answer = answer
    got, line = plugin("check_inkbus_queue", "-p", stand_in.server_port, "-w", 100, "-c", 1000)
    assert got == code and text in line


def test_health_not_ready_and_bad_arguments(stand_in):
    StandIn.answer = (503, {"broker": True, "workers": 0, "queued": 0})
    code, line = plugin("check_inkbus_health", "-p", stand_in.server_port)
    assert code == 2 and "no workers consuming" in line
    code, line = plugin("check_inkbus_health", "-w", "soon")
    assert code == 3 and line.startswith("INKBUS_HEALTH UNKNOWN")
