"""Typed message payloads (JSON on the wire, never pickle). ``schema_version`` guards every one."""

from __future__ import annotations

import re
import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import to_json

SCHEMA_VERSION: Literal[1] = 1
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
TARGET_PATTERN = r"^[0-9A-Za-z]$"  # one of the recogniser's 62 characters
# A job's meta is free-form JSON that every event about the job carries back, so it must serialise again
# inside them: pydantic refuses nesting deeper than 255, and a message the worker cannot answer came back
# forever. Bounded here, so producers refuse it up front. Meta carrying a practice ink nests 5 deep.
MAX_META_DEPTH = 16
MAX_META_BYTES = 512 * 1024  # a 64 KiB ink can grow when re-serialised ("1e5" -> 100000.0), but not this much

_ESCAPED = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_EMPTY_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))


def json_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether JSON text nests deeper than ``limit``, at C speed (a Python walk over a 4,096-point ink
    costs milliseconds): strings dropped, only brackets kept, then one innermost level removed per pass."""
    if b"\\" in raw:
        raw = _ESCAPED.sub(b"", raw)  # every quote left opens or closes a string
    rest = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    for _ in range(limit):
        if not rest:
            return False
        rest = _EMPTY_PAIR.sub(b"", rest)
    return bool(rest)


def _bounded_meta(value: dict) -> dict:
    try:
        raw = to_json(value)
    except ValueError as exc:  # nested beyond what pydantic serialises
        raise ValueError(f"meta is not serialisable: {exc}") from None
    if len(raw) > MAX_META_BYTES:
        raise ValueError(f"meta is {len(raw)} bytes as JSON; at most {MAX_META_BYTES} are accepted")
    if json_deeper_than(raw, MAX_META_DEPTH):
        raise ValueError(f"meta nests deeper than {MAX_META_DEPTH} levels")
    return value


Meta = Annotated[dict[str, Any], AfterValidator(_bounded_meta)]


# Publish a message as ``message.model_dump_json()`` with these: pydantic encodes it once, where a dict would be
# built first and then encoded again by kombu's serializer (the edge and the workers do this for every job).
JSON_CONTENT = {"content_type": "application/json", "content_encoding": "utf-8"}


def new_id() -> str:
    return uuid.uuid4().hex


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: Literal[1] = SCHEMA_VERSION


class RecognizeJob(_Message):
    """One recognition request on ``inkbus.recognize``."""

    job_id: str = Field(default_factory=new_id, pattern=ID_PATTERN)
    drawing_id: str | None = Field(None, pattern=ID_PATTERN, description="Jobs of one drawing supersede each other")
    seq: int = Field(0, ge=0, description="Increases with every job of the same drawing")
    ink: dict[str, Any] = Field(description="Ink format; producers validate it, the worker checks it again")
    top_k: int = Field(5, ge=1, le=62)
    target: str | None = Field(
        None, pattern=TARGET_PATTERN, description="Practice: the character asked for; the worker grades against it"
    )
    reply_to: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Edge id for the reply route")
    created_at: float = Field(default_factory=time.time)
    deadline: float | None = Field(None, description="Epoch seconds after which nobody wants the answer")
    meta: Meta = Field(default_factory=dict, description="Passed through to the prediction event")


class Label(BaseModel):
    model_config = ConfigDict(frozen=True)
    label: str
    p: float


class Timings(BaseModel):
    model_config = ConfigDict(frozen=True)
    queue_ms: float = Field(description="From the job's creation to the worker taking it")
    render_ms: float = Field(description="Rasterising this job's batch, per sample")
    inference_ms: float = Field(description="Forward pass of this job's batch, per sample")
    batch_size: int


class PracticeVerdict(BaseModel):
    """The worker's verdict for a job that carried a practice target (``ml.practice.judge``)."""

    model_config = ConfigDict(frozen=True)
    target: str = Field(pattern=TARGET_PATTERN)
    correct: bool = Field(description="The drawing is a good target (its shape, twins included)")
    score: float = Field(ge=0.0, le=1.0, description="What the rule compared with its threshold")
    p_shape: float = Field(ge=0.0, le=1.0, description="Calibrated probability of the target's shape")
    looked_like: str | None = Field(None, description="A twin it was read as (correct), else what it looked like")
    rule: str = Field(description="The artifact's rule and threshold, e.g. margin>=0.5")


class ShapeGuess(BaseModel):
    """Free drawing: the best guess is one shape shared by several characters (e.g. 0 o O)."""

    model_config = ConfigDict(frozen=True)
    labels: list[str] = Field(min_length=2, description="The shape's characters, most probable first")
    p: float = Field(ge=0.0, le=1.0, description="Their summed calibrated probability")


class PredictionEvent(_Message):
    type: Literal["prediction"] = "prediction"
    job_id: str
    drawing_id: str | None = None
    seq: int = 0
    reply_to: str | None = None
    top: list[Label]
    shape: ShapeGuess | None = Field(None, description="Set when the top labels are one shape")
    practice: PracticeVerdict | None = Field(None, description="Set when the job carried a practice target")
    model: str
    timings: Timings
    worker: str
    created_at: float
    produced_at: float = Field(default_factory=time.time)
    meta: dict[str, Any] = Field(default_factory=dict)


class ErrorEvent(_Message):
    type: Literal["error"] = "error"
    job_id: str | None = None
    reply_to: str | None = None
    code: str
    message: str
    meta: dict[str, Any] = Field(default_factory=dict)


class Supersede(_Message):
    """Control notice: jobs of ``drawing_id`` with a lower ``seq`` are stale; skip them if not started."""

    type: Literal["supersede"] = "supersede"
    drawing_id: str = Field(pattern=ID_PATTERN)
    seq: int = Field(ge=0)


class FeedbackEvent(_Message):
    """The feedback engine's verdict on one prediction (``feedback.<reply_to>``): what a learner sees."""

    type: Literal["feedback"] = "feedback"
    feedback_id: str = Field(default_factory=new_id, pattern=ID_PATTERN)
    job_id: str = Field(description="The recognition job this feedback is about")
    reply_to: str | None = None
    mode: Literal["practice", "free"]
    learner: str | None = Field(None, description="Who practised (practice mode)")
    target: str | None = Field(None, description="The character the learner was asked for (practice mode)")
    predicted: str = Field(description="The recogniser's top label")
    confidence: float = Field(ge=0.0, le=1.0, description="Probability of the top label")
    correct: bool | None = Field(None, description="Practice mode: the drawing was graded as the target")
    looked_like: str | None = Field(None, description="Practice mode, incorrect: the character it looked like")
    hint: str = Field("", description="One learner-friendly sentence")
    tip: str = Field("", description="How to form the target (or predicted) character")
    streak: int = Field(0, ge=0, description="Correct practice attempts in a row, this one included")
    attempt_id: int | None = Field(None, description="Row id in the progress store (for corrections)")
    recorded: bool = Field(True, description="Practice mode: false when the progress store could not save the attempt")
    model: str = ""
    latency_ms: float | None = Field(None, description="Job creation to prediction, as the worker reported it")
    produced_at: float = Field(default_factory=time.time)
    meta: dict[str, Any] = Field(default_factory=dict)


class AlertEvent(_Message):
    """Something operators should see in chat (``alert.<source>``), e.g. a worker failing on a batch."""

    type: Literal["alert"] = "alert"
    level: Literal["info", "warning", "error"] = "warning"
    title: str
    text: str = ""
    produced_at: float = Field(default_factory=time.time)


class ModelPromoted(_Message):
    """A model became the serving one (``inkbus.control``, routing key ``model.promoted``).

    Every worker fetches the artifact, checks its SHA-256 and version, loads it beside the serving
    model and switches between batches. A rollback is the same notice naming an older version.
    """

    type: Literal["model.promoted"] = "model.promoted"
    version: str = Field(pattern=ID_PATTERN, description="The artifact's version (its metadata must say the same)")
    uri: str = Field(min_length=1, max_length=1024, description="A path, file://, s3:// or gs:// URI of the artifact")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Checksum of the artifact's bytes")
    onnx_uri: str | None = Field(
        None, min_length=1, max_length=1024, description="The same model exported for ONNX Runtime workers, if made"
    )
    onnx_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="Checksum of the ONNX file's bytes")
    previous: str | None = Field(None, description="The version it replaces")
    rollback: bool = Field(False, description="Going back to an older version")
    produced_at: float = Field(default_factory=time.time)
