"""Typed message payloads (JSON on the wire, never pickle). ``schema_version`` guards every one."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal[1] = 1
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"


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
    reply_to: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Edge id for the reply route")
    created_at: float = Field(default_factory=time.time)
    deadline: float | None = Field(None, description="Epoch seconds after which nobody wants the answer")
    meta: dict[str, Any] = Field(default_factory=dict, description="Passed through to the prediction event")


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


class PredictionEvent(_Message):
    type: Literal["prediction"] = "prediction"
    job_id: str
    drawing_id: str | None = None
    seq: int = 0
    reply_to: str | None = None
    top: list[Label]
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
