"""``inkbus dataset snapshot`` rules on a real progress store (an SQLite file and PostgreSQL): whose corrections
count, the per-class share cap, forgotten learners, and the files' format and checksum."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from ml.training.data import load_ink_samples
from tests.helpers import sample_ink
from tests.integration.test_tutoring import pg_url  # noqa: F401  (the PostgreSQL fixture)
from tutor.models import Correction
from tutor.snapshot import learner_cap, load_manifest, pseudonym, purge, write_snapshot
from tutor.store import open_store

INKS = [{"strokes": r["strokes"]} for r in sample_ink()]


def _attempt(store, learner: str, target: str, correct: bool, i: int = 0) -> int:
    attempt_id, _ = store.record_attempt(
        job_id=uuid.uuid4().hex,
        learner=learner,
        target=target,
        predicted=target if correct else "x",
        confidence=0.9,
        correct=correct,
        ink=INKS[i % len(INKS)],
    )
    return attempt_id


def _correction(store, *, learner: str, label: str, attempt_id: int | None) -> None:
    """A correction row as it could exist in the table, whoever's drawing it points at."""
    with store.engine.begin() as conn:
        conn.execute(insert(Correction).values(learner=learner, label=label, ink=INKS[0], attempt_id=attempt_id))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, settings, tmp_path):
    url = f"sqlite:///{tmp_path / 'progress.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = open_store(settings, url)
    yield s
    s.close()


def test_snapshot_rules_on_a_real_store(store, tmp_path):
    for i in range(3):
        _attempt(store, "ann", "a", True, i)  # graded correct: labelled with the target
    _attempt(store, "ann", "c", False)  # graded wrong, never corrected: left out
    _attempt(store, "ann", "b", False, 1)
    assert store.correct_latest("ann", "h")  # her own drawing: the correction labels it
    bobs = _attempt(store, "bob", "d", False, 2)
    _correction(store, learner="eve", label="q", attempt_id=bobs)  # eve labelling bob's drawing: refused
    _correction(store, learner="eve", label="q", attempt_id=None)  # ink nobody's attempt holds: refused
    for i in range(10):
        _attempt(store, "carl", "7", True, i)
    for who in ("dan", "erin"):
        _attempt(store, who, "7", True)

    snaps = tmp_path / "snapshots"
    m = write_snapshot(store.engine, snaps, share=0.5, holdout_fraction=0.0, source="test")
    assert m["left_out"] == {
        "graded_wrong_uncorrected": 2,  # ann's "c" and bob's "d"
        "correction_of_another_learners_drawing": 1,
        "correction_without_attempt": 1,
        # carl's 10 sevens capped to 2 (2 <= 0.5 * (2 + 1 + 1)); ann alone drew "a": one of her 3 stays
        "over_learner_share": 10,
    }
    assert m["per_class"] == {"7": 4, "a": 1, "h": 1}
    assert m["per_learner"][pseudonym("carl")] == 2 and m["by_source"] == {"graded": 5, "correction": 1}
    assert m["samples"] == {"train": 6, "holdout": 0} and "ann" not in json.dumps(m)  # pseudonyms only
    first = snaps / m["version"]
    assert load_manifest(first)["sha256"] == m["sha256"]
    strokes, labels, writers = load_ink_samples(first / "train.jsonl")  # the training code reads it as it is
    assert len(strokes) == len(labels) == 6
    assert set(writers) == {f"inkbus/{pseudonym(w)}" for w in ("ann", "carl", "dan", "erin")}

    # forgotten: gone from later snapshots, erased from earlier ones, and kept out if a late attempt arrives
    store.forget("ann")
    m2 = write_snapshot(store.engine, snaps, share=0.5, holdout_fraction=0.0)
    assert pseudonym("ann") not in m2["per_learner"] and m2["per_class"] == {"7": 4}
    assert purge(snaps, "ann") == [m["version"]]
    again = load_manifest(first)  # rewritten with a new checksum that matches its data
    assert again["sha256"] != m["sha256"] and again["per_class"] == {"7": 4}
    assert pseudonym("ann") not in (first / "train.jsonl").read_text()
    _attempt(store, "ann", "a", True)  # a prediction redelivered after the erasure
    m3 = write_snapshot(store.engine, snaps, share=0.5, holdout_fraction=0.0)
    assert m3["left_out"]["forgotten_learner"] == 1 and pseudonym("ann") not in m3["per_learner"]

    (first / "train.jsonl").write_text("")  # a changed snapshot no longer matches its manifest
    with pytest.raises(ValueError, match="sha256"):
        load_manifest(first)


def test_held_out_learners_are_whole_and_the_command_writes_a_snapshot(settings, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'progress.db'}"
    store = open_store(settings, url)
    for n in range(12):
        _attempt(store, f"learner{n}", "5", True, n)
    store.close()
    monkeypatch.setenv("INKBUS_DATABASE_URL", url)
    monkeypatch.setenv("INKBUS_SNAPSHOT_DIR", str(tmp_path / "snaps"))
    monkeypatch.setenv("INKBUS_SNAPSHOT_LEARNER_SHARE", "1")
    monkeypatch.setenv("INKBUS_SNAPSHOT_HOLDOUT_FRACTION", "0.5")
    from inkbus.loop_cli import dataset

    out = CliRunner().invoke(dataset, ["snapshot"])
    assert out.exit_code == 0, out.output
    manifest = json.loads(out.stdout)
    folder = tmp_path / "snaps" / manifest["version"]
    sides = {
        side: {json.loads(x)["writer"] for x in (folder / f"{side}.jsonl").read_text().splitlines()}
        for side in ("train", "holdout")
    }
    assert sides["train"] and sides["holdout"] and not sides["train"] & sides["holdout"]
    assert {f"inkbus/{p}" for p in manifest["holdout_learners"]} == sides["holdout"]


def test_learner_cap():
    assert learner_cap([10, 1, 1], 0.5) == 2
    assert learner_cap([5, 5, 5, 5], 0.25) == 5  # four equal learners: each exactly a quarter
    assert learner_cap([100], 0.1) == 1  # one learner alone can never be under the share: one sample
