"""Practice-mode commands: ``feedback``, ``bots``, ``migrate``, ``export-corrections``, ``purge`` (docs/TUTORING.md)."""

from __future__ import annotations

import json
import signal
import sys

import click

from foundation.settings import Settings


def _setup() -> Settings:
    from foundation.logs import setup_logging

    settings = Settings()
    setup_logging(settings.log_level, settings.log_json)
    return settings


@click.command()
def feedback() -> None:
    """Distributed deployment: the feedback engine (grades predictions, publishes feedback events)."""
    settings = _setup()
    from tutor.engine import FeedbackEngine
    from tutor.store import open_store

    engine = FeedbackEngine(settings, open_store(settings))
    signal.signal(signal.SIGTERM, lambda *_: engine.stop())
    click.echo("Inkbus feedback engine: consuming predictions (Ctrl-C stops)", err=True)
    try:
        engine.run()
    except KeyboardInterrupt:
        engine.stop()


@click.command()
def migrate() -> None:
    """Create or upgrade the progress store's tables (INKBUS_DATABASE_URL) to the newest revision."""
    settings = _setup()
    from tutor.store import open_store

    open_store(settings).close()
    click.echo("progress store is at the newest revision", err=True)


@click.command("export-corrections")
@click.option("--out", type=click.File("w"), default="-", help="Where to write the JSON lines (default stdout).")
def export_corrections(out) -> None:
    """Corrections ("that was a q") as JSON lines of {label, writer, strokes}: the training data format."""
    settings = _setup()
    from tutor.store import open_store

    store = open_store(settings)
    n = 0
    for row in store.corrections():
        out.write(json.dumps(row, separators=(",", ":")) + "\n")
        n += 1
    click.echo(f"{n} corrections exported", err=True)


@click.command()
@click.option("--days", type=int, help="Keep this many days instead of INKBUS_RETENTION_DAYS.")
def purge(days) -> None:
    """Delete practice attempts and corrections older than the retention period, and expired link codes."""
    settings = _setup()
    days = settings.retention_days if days is None else days
    if days <= 0:
        raise click.UsageError("retention is off (INKBUS_RETENTION_DAYS is 0): nothing to purge")
    from tutor.store import open_store

    store = open_store(settings)
    gone = store.purge(days)
    store.close()
    click.echo(f"purged data older than {days} days: " + ", ".join(f"{n} {k}" for k, n in gone.items()), err=True)


@click.command()
@click.option("--check", is_flag=True, help="Only say which adapters would run, and why the others are off.")
def bots(check) -> None:
    """Run the Slack and Discord adapters whose tokens are configured; say which are off and why."""
    settings = _setup()
    from chatbots.runner import plan, run_bots

    adapters = plan(settings)
    for a in adapters:
        click.echo(f"{a.name}: {'on' if a.on else 'off'} ({a.why})", err=True)
    if check:
        return
    if not any(a.on for a in adapters):
        click.echo("no chat adapter is configured: nothing to run", err=True)
        sys.exit(1)
    run_bots(settings, adapters)


COMMANDS = (feedback, migrate, export_corrections, purge, bots)
