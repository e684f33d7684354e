"""Broker-side commands: ``bench-queues`` (what a queue type costs a live job) and ``migrate-queues``."""

from __future__ import annotations

import json
import sys

import click

from foundation.settings import Settings


@click.command("bench-queues")
@click.option("--paced", type=click.IntRange(10, 100_000), default=500, show_default=True, help="One-at-a-time jobs.")
@click.option("--burst", type=click.IntRange(10, 1_000_000), default=5000, show_default=True, help="Backlog size.")
def bench_queues(paced, burst) -> None:
    """Classic transient, classic persistent and quorum queues measured for live jobs (INKBUS_BROKER_URL)."""
    from inkbus.bench.queue_types import bench_queue_types

    results = bench_queue_types(Settings(), paced=paced, burst=burst, echo=lambda line: click.echo(line, err=True))
    click.echo(json.dumps(results, indent=2))


@click.command("migrate-queues")
@click.option("--dry-run", is_flag=True, help="Only say which queues have an older declaration.")
def migrate_queues(dry_run) -> None:
    """Re-create empty queues whose type or arguments are older than bus/topology.py declares.

    A queue that still holds messages is left alone (drain it, stop its producers, run this again).
    """
    from bus.migrate import migrate_queues as run

    outcomes = run(Settings(), dry_run=dry_run)
    for name, outcome in outcomes:
        click.echo(f"{name}: {outcome}")
    sys.exit(1 if any(o.startswith("kept") for _, o in outcomes) and not dry_run else 0)
