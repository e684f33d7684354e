"""``inkbus dataset snapshot``: the learners' labelled drawings, frozen with their provenance.

What counts (``select_samples``):
- a practice attempt graded correct: labelled with its target;
- a correction ("that was a q") of an attempt *by the learner who drew it*: labelled with the correction,
  which wins over the grading. A correction of someone else's drawing, or of an attempt that no longer
  exists, does not count: nobody can label another person's ink into the training data;
- attempts graded wrong and never corrected are left out (nobody knows what they show).

Then, per class, no learner contributes more than ``snapshot_learner_share`` of that class's samples
(their newest drawings are kept), so one person cannot steer the model. Learners who were forgotten
have no rows left, so they are in no later snapshot; ``purge`` also removes them from snapshots
already written, and its tombstone list keeps a late redelivered attempt of theirs out of later ones.

A snapshot is a folder ``<snapshot_dir>/<version>/``: ``train.jsonl`` and ``holdout.jsonl`` in the
project's ink format ``{label, writer, strokes}`` (whole learners go to the held-out side, which the
promotion gate measures on and retraining never sees), and ``manifest.json`` (counts per class and per
learner, time range, source store, the SHA-256 of the data). Learners appear as pseudonyms only.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from tutor.models import Attempt, Correction

TOMBSTONES = "forgotten.txt"  # pseudonyms of forgotten learners, one a line
FILES = ("train.jsonl", "holdout.jsonl")


def pseudonym(learner: str) -> str:
    """What a snapshot calls a learner: stable, not reversible to the id the app uses."""
    return hashlib.sha256(f"inkbus-learner:{learner}".encode()).hexdigest()[:16]


def held_out(pseudo: str, fraction: float) -> bool:
    h = int.from_bytes(hashlib.sha256(f"inkbus-holdout:{pseudo}".encode()).digest()[:8], "big")
    return h / 2**64 < fraction


@dataclass(frozen=True)
class Sample:
    learner: str  # pseudonym
    label: str
    strokes: list
    at: datetime
    source: str  # "graded" or "correction"


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite returns naive UTC


def select_samples(engine: Engine, excluded: frozenset[str] | set[str] = frozenset()) -> tuple[list[Sample], Counter]:
    """Every labelled drawing the rules allow, and a count of what was left out and why (read-only)."""
    skipped: Counter = Counter()
    with engine.connect() as conn:
        attempts = {
            r.id: r
            for r in conn.execute(
                select(Attempt.id, Attempt.learner, Attempt.target, Attempt.correct, Attempt.ink, Attempt.created_at)
            )
        }
        corrections = conn.execute(
            select(Correction.id, Correction.attempt_id, Correction.learner, Correction.label, Correction.created_at)
            .order_by(Correction.id)
        ).all()  # fmt: skip
    labels: dict[int, tuple[str, datetime]] = {}
    for c in corrections:
        attempt = attempts.get(c.attempt_id) if c.attempt_id is not None else None
        if attempt is None:
            skipped["correction_without_attempt"] += 1
        elif attempt.learner != c.learner:
            skipped["correction_of_another_learners_drawing"] += 1
        else:
            labels[attempt.id] = (c.label, c.created_at)  # a later correction of the same drawing wins
    out = []
    for a in attempts.values():
        pseudo = pseudonym(a.learner)
        if pseudo in excluded:
            skipped["forgotten_learner"] += 1
            continue
        if a.id in labels:
            label, at = labels[a.id]
            source = "correction"
        elif a.correct:
            label, at, source = a.target, a.created_at, "graded"
        else:
            skipped["graded_wrong_uncorrected"] += 1
            continue
        strokes = (a.ink or {}).get("strokes")
        if not isinstance(strokes, list) or not strokes:
            skipped["no_ink"] += 1
            continue
        out.append(Sample(pseudo, label, strokes, _aware(at), source))
    return out, skipped


def learner_cap(counts: list[int], share: float) -> int:
    """The most samples of one class a learner may give: the largest k with k <= share * sum(min(n, k)).

    With fewer than 1/share learners no k >= 1 satisfies it; each then gives one sample (the floor).
    """
    best = 1
    for k in range(1, max(counts, default=0) + 1):
        if k <= share * sum(min(n, k) for n in counts):
            best = k
    return best


def cap_shares(samples: list[Sample], share: float) -> tuple[list[Sample], int]:
    """Keep each learner's newest samples of every class up to that class's cap; return (kept, dropped)."""
    by_class: dict[str, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        by_class[s.label][s.learner].append(s)
    kept: list[Sample] = []
    for per_learner in by_class.values():
        cap = learner_cap([len(v) for v in per_learner.values()], share)
        for rows in per_learner.values():
            kept += sorted(rows, key=lambda s: s.at, reverse=True)[:cap]
    kept.sort(key=lambda s: (s.at, s.learner, s.label))
    return kept, len(samples) - len(kept)


def read_tombstones(snapshot_dir: Path) -> set[str]:
    path = Path(snapshot_dir) / TOMBSTONES
    return set(path.read_text().split()) if path.is_file() else set()


def _row(s: Sample) -> str:
    return json.dumps({"label": s.label, "writer": f"inkbus/{s.learner}", "strokes": s.strokes}, separators=(",", ":"))


def data_sha256(folder: Path) -> str:
    h = hashlib.sha256()
    for name in FILES:
        h.update((folder / name).read_bytes())
    return h.hexdigest()


def write_snapshot(
    engine: Engine, snapshot_dir: Path, *, share: float, holdout_fraction: float, source: str = ""
) -> dict:
    """Freeze the store's labelled drawings into a new snapshot folder; return its manifest."""
    snapshot_dir = Path(snapshot_dir)
    samples, skipped = select_samples(engine, read_tombstones(snapshot_dir))
    kept, capped = cap_shares(samples, share)
    version = time.strftime("snap-%Y%m%dT%H%M%SZ", time.gmtime())
    folder = snapshot_dir / version
    n = 1
    while folder.exists():  # two snapshots in one second
        n += 1
        folder = snapshot_dir / f"{version}-{n}"
    folder.mkdir(parents=True)
    sides = {"train": [s for s in kept if not held_out(s.learner, holdout_fraction)]}
    sides["holdout"] = [s for s in kept if held_out(s.learner, holdout_fraction)]
    for side, rows in sides.items():
        (folder / f"{side}.jsonl").write_text("".join(_row(s) + "\n" for s in rows))
    manifest = {
        "version": folder.name,
        "sha256": data_sha256(folder),
        "created_at": datetime.now(UTC).isoformat(),
        "source": source,
        "rules": {"learner_share": share, "holdout_fraction": holdout_fraction},
        "samples": {side: len(rows) for side, rows in sides.items()},
        "per_class": dict(sorted(Counter(s.label for s in kept).items())),
        "per_learner": dict(sorted(Counter(s.learner for s in kept).items())),
        "holdout_learners": sorted({s.learner for s in sides["holdout"]}),
        "by_source": dict(Counter(s.source for s in kept)),
        "left_out": {**dict(skipped), "over_learner_share": capped},
        "time_range": [kept[0].at.isoformat(), kept[-1].at.isoformat()] if kept else None,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def load_manifest(folder: Path) -> dict:
    """A snapshot's manifest, after checking that its data still has the checksum the manifest names."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    if data_sha256(folder) != manifest["sha256"]:
        raise ValueError(f"snapshot {folder} does not match its manifest's sha256: it was changed")
    return manifest


def snapshots(snapshot_dir: Path) -> list[Path]:
    return sorted(p.parent for p in Path(snapshot_dir).glob("*/manifest.json"))


def purge(snapshot_dir: Path, learner: str) -> list[str]:
    """Erase a learner from every written snapshot and keep them out of later ones; the snapshots changed."""
    snapshot_dir = Path(snapshot_dir)
    pseudo = pseudonym(learner)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    stones = read_tombstones(snapshot_dir) | {pseudo}
    (snapshot_dir / TOMBSTONES).write_text("".join(f"{p}\n" for p in sorted(stones)))
    changed = []
    for folder in snapshots(snapshot_dir):
        manifest = json.loads((folder / "manifest.json").read_text())
        if pseudo not in manifest.get("per_learner", {}):
            continue
        writer, per_class = f"inkbus/{pseudo}", Counter[str]()
        for name in FILES:
            rows = [json.loads(x) for x in (folder / name).read_text().splitlines()]
            rows = [r for r in rows if r["writer"] != writer]
            (folder / name).write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
            manifest["samples"][name.removesuffix(".jsonl")] = len(rows)
            per_class.update(r["label"] for r in rows)
        manifest["per_class"] = dict(sorted(per_class.items()))
        manifest["per_learner"].pop(pseudo)
        manifest["purged"] = [*manifest.get("purged", []), {"learner": pseudo, "at": datetime.now(UTC).isoformat()}]
        manifest["sha256"] = data_sha256(folder)  # the data changed: models trained on it name the old sum
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        changed.append(folder.name)
    return changed
