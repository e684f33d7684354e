"""The learning loop's commands: ``dataset snapshot|purge``, ``retrain``, ``promote``, ``models list|show|rollback``.

docs/LEARNING_LOOP.md walks through them. Torch and the training code load inside the commands only.
"""

from __future__ import annotations

import getpass
import json
import sys

import click

from foundation.settings import Settings


def _setup() -> Settings:
    from foundation.logs import setup_logging

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


# `retrain` and the scheduled `loop` fine-tune alike: one definition of how long.
EPOCHS_OPTION = click.option(
    "--epochs", type=click.IntRange(1, 100), default=2, show_default=True, help="Fine-tuning epochs."
)


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
        top1 = e.get("figures", {}).get("overall:top1", {}).get("candidate")  # what promote's gate measured
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
    settings = _setup()
    registry = _registry(settings)
    version = version or registry.previous_version()
    if version is None:
        _fail("nothing_to_roll_back_to", "no version served before the serving one")
    note = _serve(settings, registry, version, reason=reason, rollback=True)
    _echo_json(note.model_dump(mode="json"))


def _serve(settings: Settings, registry, version: str, **kw):
    """Move the serving alias and tell the workers; coded errors for an unknown version or an unreachable broker."""
    from ml.registry import RegistryError
    from producers.model_notice import serve_version

    try:
        return serve_version(settings, registry, version, by=getpass.getuser(), **kw)
    except RegistryError as exc:
        _fail("unknown_version", str(exc))
    except Exception as exc:  # the transport's errors: the broker cannot be reached
        _fail("broker_unavailable", f"the registry now serves {version} but the workers were not told ({exc}); "
              "they adopt it when they reconnect or restart (INKBUS_MODEL_FROM_REGISTRY)", 3)  # fmt: skip


def _attach_onnx(registry, entry: dict, artifact) -> None:
    """Register the version's ONNX export too, so ONNX Runtime workers follow the promotion (docs/LEARNING_LOOP.md).

    Without one (no ``onnx`` package here, or an export that fails) TorchScript workers still adopt the version and
    ONNX workers refuse it with an alert; the promotion itself goes on."""
    import logging
    import tempfile
    from pathlib import Path

    if entry.get("onnx"):
        return
    try:
        from ml.training.onnx_export import export_onnx

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "model.onnx"
            export_onnx(Path(artifact), out)
            registry.attach_onnx(entry["version"], out)
    except Exception as exc:  # ImportError without the train extra, or the exporter's own errors
        logging.getLogger("inkbus.registry").warning(
            "%s has no ONNX export; ONNX Runtime workers will refuse it: %s", entry["version"], exc
        )


def _latest_snapshot(settings: Settings, version: str | None = None):
    from tutor.snapshot import snapshots

    if version:
        folder = settings.snapshot_dir / version
        return folder if (folder / "manifest.json").is_file() else None
    found = snapshots(settings.snapshot_dir)
    return found[-1] if found else None


def _serving_path(settings: Settings, registry):
    """The serving model's local file; the first time, ``model_path`` is registered as the serving one."""
    from ml.registry import fetch_artifact

    serving = registry.serving()
    if serving is None:
        entry = registry.register(settings.model_path)
        _attach_onnx(registry, entry, settings.model_path)
        serving = registry.set_serving(entry["version"], reason="the model serving before the first promotion")
    endpoint = settings.object_store_endpoint(serving.uri)
    return serving, fetch_artifact(serving.uri, serving.sha256, settings.model_cache_dir, endpoint)


@click.command()
@click.option("--snapshot", "snapshot_version", help="Snapshot version [default: the newest in INKBUS_SNAPSHOT_DIR].")
@click.option("--parent", type=click.Path(dir_okay=False, exists=True), help="Default: the serving model.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Base training data [INKBUS_DATA_DIR].")
@click.option("--out", type=click.Path(dir_okay=False), help="Default: runs/retrain/VERSION.pt.")
@EPOCHS_OPTION
@click.option("--lr", type=float, default=5e-4, show_default=True, help="Peak learning rate of the fine-tuning.")
@click.option("--snapshot-weight", type=click.IntRange(1, 50), default=1, show_default=True, help="Snapshot copies.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda ...")
@click.option("--version", "version", help="Candidate version [default: retrain-<UTC time>].")
@click.option("--dry-run", is_flag=True, help="Tiny subsets, one epoch (CI).")
def retrain(snapshot_version, parent, data_dir, out, epochs, lr, snapshot_weight, device, version, dry_run) -> None:
    """Fine-tune the serving model on the base data plus a learners' snapshot; write a candidate artifact."""
    import time
    from pathlib import Path

    from ml.training.retrain import RetrainConfig
    from ml.training.retrain import retrain as run_retrain

    settings = _setup()
    snapshot = _latest_snapshot(settings, snapshot_version)
    if snapshot is None:
        _fail("no_snapshot", f"no snapshot {snapshot_version or ''} in {settings.snapshot_dir}: take one first")
    parent = Path(parent) if parent else _serving_path(settings, _registry(settings))[1]
    version = version or time.strftime("retrain-%Y%m%dT%H%M%SZ", time.gmtime())
    out = Path(out) if out else settings.retrain_dir / f"{version}.pt"
    cfg = RetrainConfig(
        parent=parent,
        snapshot=snapshot,
        base_data=Path(data_dir) if data_dir else settings.data_dir,
        out=out,
        work=out.parent / f"{version}.work",
        version=version,
        command=" ".join(["inkbus", *sys.argv[1:]]),
        epochs=epochs,
        lr=lr,
        device=device,
        snapshot_weight=snapshot_weight,
        dry_run=dry_run,
    )
    from ml.artifact import ArtifactError

    try:
        meta = run_retrain(cfg, echo=lambda m: click.echo(m, err=True))
    except (ValueError, ArtifactError, FileNotFoundError) as exc:
        _fail("cannot_retrain", str(exc))
    _echo_json({"candidate": str(out), "version": version, "parent": meta["parent"], "snapshot": meta["snapshot"]})


@click.command()
@click.argument("candidate", type=click.Path(dir_okay=False, exists=True))
@click.option("--snapshot", "snapshot_version", help="Held-out learners [default: the candidate's snapshot].")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Validation ink [INKBUS_DATA_DIR].")
@click.option("--limit", type=click.IntRange(0), default=3000, show_default=True, help="Validation samples (0: all).")
@click.option(
    "--bootstrap",
    type=click.IntRange(100, 100_000),
    default=1000,
    show_default=True,
    help="Paired bootstrap resamples behind each figure's 95% interval.",
)
@click.option("--force", is_flag=True, help="Promote even if the gate refuses (logged, and announced as forced).")
@click.option("--reason", default="", help="Why, for the registry's history (with --force: required).")
def promote(candidate, snapshot_version, data_dir, limit, bootstrap, force, reason) -> None:
    """Promote CANDIDATE if it beats the serving model beyond the noise; workers then switch to it live."""
    from pathlib import Path

    from ml.artifact import ArtifactError
    from ml.registry import RegistryError, read_meta
    from ml.training.promote import gate, load_sets

    settings = _setup()
    if force and not reason:
        _fail("reason_required", "--force needs --reason: a forced promotion must say why")
    registry = _registry(settings)
    try:
        meta = read_meta(candidate)
        serving, current = _serving_path(settings, registry)
        if meta.get("version") == serving.version:
            _fail("already_serving", f"{serving.version} is already the serving model")
        snap = _latest_snapshot(settings, snapshot_version or (meta.get("snapshot") or {}).get("version"))
        sets = load_sets(Path(data_dir) if data_dir else settings.data_dir, snap, limit=limit)
        report = gate(Path(candidate), current, sets, bootstrap=bootstrap)
    except (RegistryError, ArtifactError) as exc:
        _fail("invalid_candidate", str(exc))
    try:
        entry = registry.register(candidate)
    except RegistryError as exc:
        _fail("cannot_register", str(exc))
    _attach_onnx(registry, entry, candidate)
    gate_record = {"promote": report["promote"], "reasons": report["reasons"], "against": serving.version,
                   "snapshot": snap.name if snap else None, "forced": force and not report["promote"]}  # fmt: skip
    registry.update(entry["version"], figures=report.get("figures", {}), gate=gate_record)
    result = {"version": entry["version"], "against": serving.version, **report}
    if report["promote"] or force:
        why = reason or f"better than {serving.version} on the gate ({len(sets)} evaluation sets)"
        if gate_record["forced"]:
            log_forced(entry["version"], report["reasons"], why)
        _serve(settings, registry, entry["version"], reason=why, forced=gate_record["forced"])
        _echo_json({**result, "promoted": True, "forced": gate_record["forced"]})
        return
    _announce_refusal(settings, entry["version"], report["reasons"])
    _echo_json({**result, "promoted": False})
    click.echo("refused: " + "; ".join(report["reasons"]), err=True)
    sys.exit(1)


def _announce_refusal(settings: Settings, version: str, reasons: list[str]) -> None:
    import logging

    from bus.schemas import AlertEvent
    from producers.model_notice import announce

    alert = AlertEvent(level="warning", title=f"promotion of {version} refused", text="; ".join(reasons)[:1000])
    try:
        announce(settings, None, alert)
    except Exception as exc:  # the verdict stands; only the chat post is missing
        logging.getLogger("inkbus.registry").warning("could not post the refusal to the ops channel: %s", exc)


def log_forced(version: str, reasons: list[str], why: str) -> None:
    import logging

    logging.getLogger("inkbus.registry").warning(
        "forced promotion of %s over the gate's refusal (%s): %s", version, "; ".join(reasons), why
    )


@click.command("loop")
@click.option("--device", default="auto", show_default=True, help="Where retraining runs.")
@EPOCHS_OPTION
@click.option("--dry-run", is_flag=True, help="Tiny subsets, one epoch (CI).")
@click.pass_context
def learning_loop(ctx, device, epochs, dry_run) -> None:
    """Snapshot, retrain and promote once (the scheduled job); the outcome goes to the ops channel either way."""
    import json as _json
    import time

    from bus.schemas import AlertEvent
    from producers.model_notice import announce

    settings = _setup()
    version = time.strftime("retrain-%Y%m%dT%H%M%SZ", time.gmtime())
    candidate = settings.retrain_dir / f"{version}.pt"

    def stop(level: str, title: str, text: str, code: int) -> None:
        announce(settings, None, AlertEvent(level=level, title=title, text=text[:1000]))
        sys.exit(code)

    trained = {"version": version, "out": str(candidate), "device": device, "epochs": epochs, "dry_run": dry_run}
    judged = {"candidate": str(candidate)}
    steps = [("snapshot", snapshot, {}), ("retrain", retrain, trained), ("promote", promote, judged)]
    for name, command, kwargs in steps:
        try:
            ctx.invoke(command, **kwargs)
        except SystemExit as exc:
            if exc.code in (0, None):
                continue
            if name == "promote":  # a refusal is announced by promote itself, with its reasons
                raise
            stop("error", f"learning loop stopped at {name}", f"exit status {exc.code}", int(exc.code))
        except Exception as exc:  # the ops channel hears about any failure, then the job fails
            stop("error", f"learning loop failed at {name}", f"{type(exc).__name__}: {exc}", 1)
        if name == "snapshot":
            latest = _json.loads((_latest_snapshot(settings) / "manifest.json").read_text())
            if not latest["samples"]["train"]:
                stop("info", "learning loop: nothing new to learn", f"snapshot {latest['version']} is empty", 0)
