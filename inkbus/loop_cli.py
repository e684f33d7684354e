"""The learning loop's commands: ``dataset snapshot|purge``, ``retrain``, ``promote``, ``models list|show|rollback``.

docs/LEARNING_LOOP.md walks through them. Torch and the training code load inside the commands only.
"""

from __future__ import annotations

import getpass
import json
import sys

import click

from inkbus.settings import Settings


def _setup() -> Settings:
    from inkbus.logs import setup_logging

    settings = Settings()
    setup_logging(settings.log_level, settings.log_json)
    return settings


def _registry(settings: Settings):
    from ml.registry import Registry

    root = settings.registry_root()
    return Registry.open(root, settings.object_store_endpoint(root))


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=1, sort_keys=True, default=str))


def _fail(code: str, message: str, status: int = 2):
    """A machine-readable error on stdout, a sentence on stderr, and a non-zero exit."""
    _echo_json({"error": {"code": code, "message": message}})
    click.echo(f"error: {message}", err=True)
    sys.exit(status)


@click.group()
def dataset() -> None:
    """Learners' labelled drawings as versioned training data."""


@dataset.command()
def snapshot() -> None:
    """Freeze corrections and graded practice attempts (INKBUS_DATABASE_URL) into INKBUS_SNAPSHOT_DIR."""
    settings = _setup()
    from tutor.snapshot import write_snapshot
    from tutor.store import open_store

    store = open_store(settings)
    try:
        source = store.engine.url.render_as_string(hide_password=True)
        manifest = write_snapshot(
            store.engine,
            settings.snapshot_dir,
            share=settings.snapshot_learner_share,
            holdout_fraction=settings.snapshot_holdout_fraction,
            source=source,
        )
    finally:
        store.close()
    _echo_json(manifest)
    click.echo(f"snapshot {manifest['version']}: {manifest['samples']} samples, sha256 {manifest['sha256']}", err=True)


@dataset.command("purge")
@click.argument("learner")
def purge_learner(learner) -> None:
    """Erase LEARNER from every snapshot written so far, and keep them out of later ones."""
    settings = _setup()
    from tutor.snapshot import purge

    changed = purge(settings.snapshot_dir, learner)
    _echo_json({"purged_from": changed})


@click.group()
def models() -> None:
    """The model registry (INKBUS_MODEL_REGISTRY): versions, figures and the serving model."""


@models.command("list")
def list_models() -> None:
    """Every registered version, oldest first; * marks the serving one."""
    registry = _registry(_setup())
    serving = registry.serving()
    for e in registry.entries():
        mark = "*" if serving and serving.version == e["version"] else " "
        top1 = e.get("figures", {}).get("candidate", {}).get("overall", {}).get("top1")
        figure = f"top-1 {top1:.4f}" if isinstance(top1, float) else "not evaluated"
        click.echo(f"{mark} {e['version']:<32} {e['sha256'][:12]}  parent {e.get('parent') or '-':<24} {figure}")


@models.command()
@click.argument("version", required=False)
def show(version) -> None:
    """A version's entry (default: the serving one), with the serving alias's history."""
    from ml.registry import RegistryError

    registry = _registry(_setup())
    serving = registry.serving()
    version = version or (serving.version if serving else None)
    if version is None:
        _fail("no_serving_model", "nothing is serving from the registry yet; give a VERSION")
    try:
        entry = registry.entry(version)
    except RegistryError as exc:
        _fail("unknown_version", str(exc))
    _echo_json({**entry, "serving": bool(serving and serving.version == version), "alias": registry.alias()})


@models.command()
@click.argument("version", required=False)
@click.option("--reason", default="rollback", show_default=True, help="Why: kept in the alias's history.")
def rollback(version, reason) -> None:
    """Serve VERSION again (default: the one before the serving one); workers switch live."""
    from ml.registry import RegistryError
    from producers.model_notice import serve_version

    settings = _setup()
    registry = _registry(settings)
    version = version or registry.previous_version()
    if version is None:
        _fail("nothing_to_roll_back_to", "no version served before the serving one")
    try:
        note = serve_version(settings, registry, version, reason=reason, rollback=True, by=getpass.getuser())
    except RegistryError as exc:
        _fail("unknown_version", str(exc))
    _echo_json(note.model_dump(mode="json"))


