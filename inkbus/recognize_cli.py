"""``inkbus recognize``: the worker's code path (validate, render, forward) on files, batched.

An input with a ``"target"`` (one of the 62 characters) also gets its practice verdict: the worker's
decision (``ml.practice.judge`` with the artifact's rule) worded by ``tutor.grading``, the same as the
page, the chat and the bots get. A teacher grades a class's worksheet this way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO

import numpy as np

from foundation.settings import Settings
from ml.ink import InkError, is_degenerate, validate_ink
from ml.metadata import CLASS_INDEX


def practice_verdict(probs, target: str, top: list[dict], rule) -> dict:
    """What a learner would be told for this drawing with ``target`` asked for."""
    from ml.practice import judge
    from tutor.grading import grade_practice

    j = judge(probs, target, rule)
    v = grade_practice(j, top)
    return {**j.to_dict(), "hint": v.hint, "tip": v.tip}


def _target_error(obj) -> InkError | None:
    target = obj.get("target") if isinstance(obj, dict) else None
    if target is None or (isinstance(target, str) and target in CLASS_INDEX):
        return None
    return InkError("invalid_target", '"target" must be one character: 0-9, A-Z or a-z')


def _records(source: TextIO) -> Iterator[tuple[dict | None, InkError | None]]:
    text = source.read()
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:  # a single (possibly pretty-printed) object
            yield json.loads(text), None
            return
        except ValueError:
            pass  # not one object: JSON lines
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line), None
        except ValueError as exc:
            yield None, InkError("invalid_json", f"line {n}: {exc}")


def recognize_stream(source: TextIO, out: TextIO, settings: Settings, *, top_k: int, batch_size: int) -> bool:
    from ml.serving import open_recognizer

    rec = open_recognizer(settings, threads=0)  # a batch job on this machine alone: the runtime's default, every core
    ok = True
    pending: list[tuple[dict, list[np.ndarray] | InkError]] = []  # (output row, strokes or InkError)

    def flush() -> None:
        good = [s for _, s in pending if not isinstance(s, InkError)]
        probs = rec.recognize(good).probs if good else np.zeros((0, 0))
        i = 0
        for row, s in pending:
            if isinstance(s, InkError):
                row["error"] = s.as_dict()
            else:
                row["top"] = rec.top(probs[i], top_k)
                if row.get("target") is not None:
                    row["practice"] = practice_verdict(probs[i], row["target"], row["top"], rec.rule)
                i += 1
            out.write(json.dumps(row) + "\n")
        pending.clear()

    for obj, err in _records(source):
        strokes: list[np.ndarray] | InkError
        if err is None:
            try:
                strokes = validate_ink(obj)
                if (bad := _target_error(obj)) is not None:
                    raise bad
                if is_degenerate(strokes):
                    raise InkError("degenerate_ink", "the drawing is a single dot")
            except InkError as exc:
                strokes = exc
        else:
            strokes = err
        if isinstance(strokes, InkError):
            ok = False
        row = {k: v for k, v in obj.items() if k != "strokes"} if isinstance(obj, dict) else {}
        pending.append((row, strokes))
        if len(pending) >= batch_size:
            flush()
    flush()
    return ok


def recognize_remote(source: TextIO, out: TextIO, base_url: str, *, top_k: int) -> bool:
    """The same input and output as ``recognize_stream``, answered by a running edge's HTTP API."""
    from inkbus.client import InkbusClient, InkbusError

    api = InkbusClient(base_url)
    ok = True
    for obj, err in _records(source):
        row = {k: v for k, v in obj.items() if k != "strokes"} if isinstance(obj, dict) else {}
        try:
            if err is not None:
                raise err
            strokes = obj.get("strokes") if isinstance(obj, dict) else None
            pred = api.recognize(strokes, top=top_k)  # type: ignore[arg-type]  # the server validates
            row["top"] = [{"label": t.label, "p": t.p} for t in pred.top]
        except InkError as exc:
            ok, row["error"] = False, exc.as_dict()
        except InkbusError as exc:
            ok, row["error"] = False, {"code": exc.code, "message": exc.message}
            if exc.status == 0 or exc.status >= 500:  # the server, not this line: no point in going on
                out.write(json.dumps(row) + "\n")
                return False
        out.write(json.dumps(row) + "\n")
    return ok
