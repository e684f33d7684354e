"""The ``inkbus`` command. Heavy imports happen inside commands, after gevent's monkey patching."""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING

import click

from foundation.choices import ASYNC_MODES, LOG_LEVELS, WORKER_POOLS

if TYPE_CHECKING:
    from foundation.settings import Settings

DEVICE_OPTION = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    help="Run the model on the CPU or a CUDA GPU; auto takes a GPU when one is visible [INKBUS_DEVICE].",
)


def _settings(**overrides) -> Settings:
    """Settings from options, environment and .env; a bad value is refused in one line per setting, no traceback."""
    from pydantic import ValidationError

    from foundation.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        bad = [f"INKBUS_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
        raise click.ClickException("invalid settings: " + "; ".join(bad)) from None


def _async_mode(option: str | None) -> str:
    """Decide the async mode before anything imports threading: Settings (pydantic, logging) would,
    and eventlet cannot green locks that already exist. Same sources as Settings: option, env, .env."""
    if option:
        return option
    if os.environ.get("INKBUS_ASYNC_MODE"):
        return os.environ["INKBUS_ASYNC_MODE"]
    try:
        with open(".env", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.strip().partition("=")
                if key.strip() == "INKBUS_ASYNC_MODE" and value.strip():
                    return value.strip().strip("\"'")
    except OSError:
        pass
    return "gevent"


def _prepare_async(mode: str) -> None:
    # gevent must patch the standard library before kombu, amqp or Flask open a socket.
    if mode == "gevent":
        from gevent import monkey

        monkey.patch_all()
    elif mode == "eventlet":
        _require_extra("eventlet", ["eventlet"])
        import eventlet

        eventlet.monkey_patch()


def _device_or_fail(settings: Settings) -> None:
    """Refuse a device this machine lacks with one line, before any start-up work (no traceback)."""
    from ml.serving import DeviceError, check_device

    try:
        check_device(settings.runtime, settings.device)
    except DeviceError as exc:
        raise click.ClickException(str(exc)) from None


def _logging(settings: Settings) -> None:
    from foundation.logs import setup_logging

    setup_logging(settings.log_level, settings.log_json)


def _require_extra(extra: str, modules: list[str]) -> None:
    """Stop with the install command when a command's optional dependencies are missing, not a traceback."""
    from importlib.util import find_spec

    missing = [m for m in modules if find_spec(m) is None]
    if missing:
        raise click.ClickException(
            f"this command needs {', '.join(missing)}: pip install 'inkbus[{extra}]' (`make run` installs all)"
        )


class _LazyGroup(click.Group):
    """Commands kept in other modules load only when used (or listed by --help): importing them
    up front would import Settings, and with it threading, before `run` and `edge` choose their
    async mode and patch the standard library."""

    lazy = {
        "train": "inkbus.ml_cli:train",
        "eval": "inkbus.ml_cli:evaluate",
        "fetch-emnist": "inkbus.ml_cli:fetch_emnist",
        "calibrate": "inkbus.ml_cli:calibrate",
        "ensemble": "inkbus.ml_cli:ensemble",
        "cascade": "inkbus.ml_cli:cascade",
        "export-onnx": "inkbus.ml_cli:export_onnx",
        "feedback": "inkbus.tutor_cli:feedback",
        "migrate": "inkbus.tutor_cli:migrate",
        "export-corrections": "inkbus.tutor_cli:export_corrections",
        "purge": "inkbus.tutor_cli:purge",
        "bots": "inkbus.tutor_cli:bots",
        "dataset": "inkbus.loop_cli:dataset",
        "models": "inkbus.loop_cli:models",
        "retrain": "inkbus.loop_cli:retrain",
        "promote": "inkbus.loop_cli:promote",
        "loop": "inkbus.loop_cli:learning_loop",
        "bench-queues": "inkbus.cluster_cli:bench_queues",
        "migrate-queues": "inkbus.cluster_cli:migrate_queues",
    }

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx, name):
        if name in self.lazy:
            module, attr = self.lazy[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="inkbus", prog_name="inkbus", message="%(prog)s %(version)s")
def main() -> None:
    """Inkbus: real-time handwriting recognition over RabbitMQ.

    Every option also has an INKBUS_* environment variable (see the README's configuration table).
    """


@main.command()
@click.option("--host", help="Address to listen on [INKBUS_HOST].")
@click.option("--port", type=int, help="Port to listen on [INKBUS_PORT].")
@click.option(
    "--workers", type=click.IntRange(1, 16), default=1, show_default=True, help="In-process batching workers."
)
@click.option(
    "--async-mode",
    type=click.Choice(ASYNC_MODES),
    help="Flask-SocketIO async mode [INKBUS_ASYNC_MODE]; eventlet needs the `eventlet` extra.",
)
@DEVICE_OPTION
def run(host, port, workers, async_mode, device) -> None:
    """Embedded default: edge and workers in one process.

    Uses RabbitMQ at INKBUS_BROKER_URL when it is reachable, else an in-process transport.
    """
    mode = _async_mode(async_mode)
    _prepare_async(mode)
    settings = _settings(host=host, port=port, async_mode=mode, device=device)
    _device_or_fail(settings)
    _logging(settings)
    from inkbus.embedded import run_embedded

    run_embedded(settings, workers=workers)


@main.command()
@click.option("--host", help="Address to listen on [INKBUS_HOST].")
@click.option("--port", type=int, help="Port to listen on [INKBUS_PORT].")
@click.option(
    "--async-mode",
    type=click.Choice(ASYNC_MODES),
    help="Flask-SocketIO async mode [INKBUS_ASYNC_MODE]; eventlet needs the `eventlet` extra.",
)
def edge(host, port, async_mode) -> None:
    """Distributed deployment: the web edge (HTTP API + Socket.IO) against RabbitMQ."""
    mode = _async_mode(async_mode)
    _prepare_async(mode)
    settings = _settings(host=host, port=port, async_mode=mode)
    _logging(settings)
    from web.app import create_app

    app, socketio = create_app(settings)
    click.echo(f"Inkbus edge on http://{settings.host}:{settings.port}/", err=True)
    from foundation.heap import freeze_startup_heap
    from web.server import serve

    freeze_startup_heap()

    serve(app, socketio, settings.host, settings.port)


@main.command()
@click.option("--pool", type=click.Choice(WORKER_POOLS), help="Celery pool [INKBUS_WORKER_POOL].")
@click.option("--concurrency", type=click.IntRange(1, 64), help="Batching consumers [INKBUS_WORKER_CONCURRENCY].")
@click.option(
    "--loglevel",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="INFO",
    show_default=True,
    help="Celery's log level.",
)
@DEVICE_OPTION
def worker(pool, concurrency, loglevel, device) -> None:
    """Distributed deployment: a Celery worker running the micro-batching recogniser.

    On a GPU (INKBUS_DEVICE=cuda, or auto with one visible) batches go up to INKBUS_BATCH_MAX_CUDA jobs.
    """
    settings = _settings(worker_pool=pool, worker_concurrency=concurrency, device=device)
    _device_or_fail(settings)
    _logging(settings)
    from workers.celery_app import create_celery

    app = create_celery(settings)
    app.worker_main(
        [
            "worker",
            f"--pool={settings.worker_pool}",
            f"--loglevel={loglevel}",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            # unique per process: two workers on one host under Celery's default name fight over the
            # exclusive pidbox queue (RESOURCE_LOCKED), and the second one's control channel dies
            f"--hostname=inkbus-{os.getpid()}@%h",
        ]
    )


@main.command()
def sink() -> None:
    """Distributed deployment: prediction and feedback events -> InfluxDB 2 (INKBUS_INFLUX_*)."""
    settings = _settings()
    _logging(settings)
    from observability.sink import run_sink

    run_sink(settings)


@main.command()
@click.argument("source", type=click.File("r"), default="-")
@click.option(
    "--top",
    "top_k",
    type=click.IntRange(1, 62),
    default=5,
    show_default=True,
    help="Labels per answer (62 prints every class).",
)
@click.option("--model", "model_path", type=click.Path(dir_okay=False), help="Model artifact [INKBUS_MODEL_PATH].")
@click.option(
    "--batch-size", type=click.IntRange(1, 4096), default=256, show_default=True, help="Inks per forward pass."
)
@click.option("--url", help="Ask a running edge's HTTP API at this base URL instead of recognising in-process.")
@DEVICE_OPTION
@click.option(
    "--runtime",
    type=click.Choice(["torch", "onnx"]),
    help="TorchScript (--model) or ONNX Runtime (INKBUS_ONNX_MODEL_PATH) [INKBUS_RUNTIME].",
)
def recognize(source, top_k, model_path, batch_size, url, device, runtime) -> None:
    """Recognise ink from FILE (or - for stdin), in-process (no broker needed) or through an edge (--url).

    Input: one ink JSON object, or JSON lines of ink objects. Output: one JSON line per input with
    its other keys (label, id, ...) plus "top"; a bad line gives {"error": {...}} and exit status 1.
    An input with "target" (the character asked for) also gets "practice": its verdict (correct, what it
    looked like, the hint), decided as the page and the chat bots decide it.
    """
    from inkbus.recognize_cli import recognize_remote, recognize_stream

    if url:
        sys.exit(0 if recognize_remote(source, sys.stdout, url, top_k=top_k) else 1)
    settings = _settings(device=device, runtime=runtime)
    if model_path:  # the artifact of the runtime in use
        key = "onnx_model_path" if settings.runtime == "onnx" else "model_path"
        settings = settings.model_copy(update={key: model_path})
    _device_or_fail(settings)
    ok = recognize_stream(source, sys.stdout, settings, top_k=top_k, batch_size=batch_size)
    sys.exit(0 if ok else 1)


@main.command()
@click.option("--quick", "plan", flag_value="quick", help="Small sizes: under 3 minutes.")
@click.option("--full", "plan", flag_value="full", default=True, help="The sizes docs/BENCHMARKS.md reports.")
@click.option("--tiny", "plan", flag_value="tiny", help="A smoke run for CI (seconds; not a measurement).")
@click.option("--jobs", type=click.IntRange(10, 1_000_000), help="Jobs per drain run.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write results.json and latency.png here.")
@click.option("--docs", type=click.Path(dir_okay=False), help="Also write this Markdown report (docs/BENCHMARKS.md).")
@click.option(
    "--reference-model",
    type=click.Path(dir_okay=False, exists=True),
    help="An artifact served before: its cost per recognition becomes the reference row of the same run.",
)
@click.option(
    "--candidate-model",
    type=click.Path(dir_okay=False, exists=True),
    help="An artifact considered for serving: its cost per recognition joins the same rows.",
)
@click.option(
    "--baseline-tree",
    type=click.Path(file_okay=False, exists=True),
    help="Another checkout (git worktree of an older commit): its edge, worker and model run the live path at "
    "the reference load too, in the same run, in turn with this tree's (three rounds with --full; the ratios "
    "are of the medians).",
)
@click.option(
    "--baseline-broker-url",
    help="Broker URL for the baseline tree, best a vhost of its own [default: INKBUS_BROKER_URL].",
)
def bench(plan, jobs, out_dir, docs, reference_model, candidate_model, baseline_tree, baseline_broker_url) -> None:
    """Ceiling, live path, saturation and the naive designs, measured in one run against RabbitMQ."""
    from pathlib import Path

    _require_extra("bench", ["aiohttp", "requests", "matplotlib", "torch", "celery"])
    from inkbus.bench.run import run_bench

    settings = _settings()
    run_bench(
        settings,
        plan_name=plan,
        jobs=jobs,
        out_dir=Path(out_dir) if out_dir else None,
        echo=click.echo,
        docs=Path(docs) if docs else None,
        reference=Path(reference_model) if reference_model else None,
        candidate=Path(candidate_model) if candidate_model else None,
        baseline_tree=Path(baseline_tree) if baseline_tree else None,
        baseline_broker_url=baseline_broker_url,
    )


if __name__ == "__main__":
    main()
