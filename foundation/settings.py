"""One Settings object, read from ``INKBUS_*`` environment variables (or a ``.env`` file).

No other module holds URLs, paths or secrets as literals: they take a ``Settings``, or the part of it their
area reads (``Settings.broker`` for a broker connection, ``Settings.queues`` for the queues' arguments).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from foundation.choices import AsyncMode, LogLevel, WorkerPool

REPO_ROOT = Path(__file__).resolve().parent.parent

# INKBUS_LOG_LEVEL=debug is as good as DEBUG.
UpperLogLevel = Annotated[LogLevel, BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)]


class BrokerSettings(BaseModel):
    """What a broker connection reads (bus/connection.py): where, how long to try, how often to beat."""

    model_config = ConfigDict(frozen=True)
    url: str
    connect_timeout_s: float
    heartbeat_s: int


class QueueSettings(BaseModel):
    """The queues' types, lengths and lifetimes (bus/topology.py): both sides declare them alike."""

    model_config = ConfigDict(frozen=True)
    job_queue_type: Literal["classic", "quorum"]
    job_persistent: bool
    dead_letter_ttl_ms: int
    dead_letter_max: int
    feedback_queue_ttl_ms: int
    feedback_queue_max: int
    sink_queue_max: int


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INKBUS_", env_file=".env", extra="ignore")

    # --- bus
    broker_url: str = Field(
        "amqp://guest:guest@127.0.0.1:5672//",
        description="RabbitMQ (AMQP 0-9-1) URL; a cluster's nodes as `amqp://a//;amqp://b//` (failover in turn)",
    )
    broker_connect_timeout_s: float = Field(2.0, description="Timeout for one broker connection attempt")
    broker_heartbeat_s: int = Field(
        10, ge=0, le=600, description="AMQP heartbeat: a silent broker connection is dropped after about twice this"
    )
    job_ttl_ms: int = Field(10_000, description="Per-message TTL of a live recognition job; stale jobs are dropped")
    dead_letter_ttl_ms: int = Field(7 * 24 * 3600 * 1000, description="How long dead-lettered jobs are kept")
    dead_letter_max: int = Field(100_000, description="Most dead-lettered jobs kept (oldest dropped first)")
    publish_confirm_timeout_s: float = Field(5.0, description="Wait this long for a publisher confirm")
    job_persistent: bool = Field(
        False, description="Write live jobs to the broker's disk (confirm waits for fsync; off: kept in memory)"
    )
    job_queue_type: Literal["classic", "quorum"] = Field(
        "classic",
        description="Live job queue: classic (non-durable, re-declared on a surviving node) or quorum (replicated)",
    )
    publisher_channels: int = Field(
        4, ge=1, le=64, description="Confirm channels an edge publishes on at once (each waits for its confirm)"
    )

    # --- worker
    batch_max: int = Field(64, ge=1, description="Most jobs in one forward pass on a CPU")
    batch_max_cuda: int = Field(
        512,
        ge=1,
        description="Most jobs in one forward pass when the model runs on a GPU (INKBUS_BATCH_MAX applies on a CPU)",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="Where the worker, `inkbus run` and `inkbus recognize` run the model: auto (a CUDA GPU when "
        "one is visible, else the CPU), cpu, or cuda (refused at start when no GPU is visible)",
    )
    runtime: Literal["torch", "onnx"] = Field(
        "torch",
        description="Serving runtime: torch (the TorchScript artifact, INKBUS_MODEL_PATH) or onnx (ONNX Runtime "
        "on INKBUS_ONNX_MODEL_PATH, made by `inkbus export-onnx`; needs no torch)",
    )
    batch_wait_ms: float = Field(
        0.0, ge=0, description="Extra wait to fill a batch once a worker has a job (delivered jobs always join)"
    )
    worker_batching: bool = Field(True, description="Run the micro-batching job consumer in the worker")
    worker_pool: WorkerPool = Field("solo", description="Celery pool for the worker process: solo, threads or prefork")
    worker_concurrency: int = Field(1, description="Batching consumers per worker process")
    torch_threads: int = Field(
        1,
        ge=0,
        description="torch intra-op threads per worker process (scale with processes; 0 = torch's default, all cores)",
    )

    # --- model and data
    model_path: Path = Field(REPO_ROOT / "models" / "inknet.pt", description="Exported model artifact")
    onnx_model_path: Path = Field(
        REPO_ROOT / "models" / "inknet.onnx",
        description="The model as ONNX, metadata inside (`inkbus export-onnx`), served when INKBUS_RUNTIME=onnx",
    )
    data_dir: Path = Field(REPO_ROOT.parent / "shared" / "data", description="Training/evaluation data directory")
    emnist_url: str = Field(
        "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip",
        description="NIST's official EMNIST archive, fetched by `inkbus fetch-emnist`",
    )
    top_k: int = Field(5, description="Default number of labels in a prediction")

    # --- the learning loop: registry, snapshots, promotion (docs/LEARNING_LOOP.md)
    model_registry: str = Field(
        "var/registry",
        description="Model registry: a folder (relative: under the checkout), or s3://bucket/prefix, gs://bucket/prefix",
    )
    model_registry_endpoint_url: str = Field(
        "", description="S3-compatible endpoint of the registry's bucket (empty: AWS; gs:// uses Cloud Storage's)"
    )
    gcs_endpoint_url: str = Field(
        "https://storage.googleapis.com",
        description="Cloud Storage's S3-compatible XML API, used for gs:// registries (HMAC keys)",
    )
    model_from_registry: bool = Field(
        False, description="Workers start with the registry's serving model (else INKBUS_MODEL_PATH)"
    )
    model_cache_dir: Path = Field(
        REPO_ROOT / "var" / "model-cache", description="Where workers keep verified artifacts, by checksum"
    )
    snapshot_dir: Path = Field(
        REPO_ROOT / "var" / "snapshots", description="Where `inkbus dataset snapshot` writes learners' data"
    )
    retrain_dir: Path = Field(
        REPO_ROOT / "runs" / "retrain", description="Where `inkbus retrain` writes candidates and their working files"
    )
    snapshot_learner_share: float = Field(
        0.1, gt=0, le=1, description="Most of any class's snapshot samples one learner may contribute"
    )
    snapshot_holdout_fraction: float = Field(
        0.25, ge=0, lt=1, description="Learners whose snapshot data is held out of retraining for the promotion gate"
    )

    # --- edge
    host: str = Field("127.0.0.1", description="Address the edge listens on")
    port: int = Field(8000, description="Port the edge listens on")
    async_mode: AsyncMode = Field(
        "gevent", description="Flask-SocketIO async mode: gevent, threading or eventlet (the `eventlet` extra)"
    )
    request_timeout_s: float = Field(10.0, description="HTTP recognition waits this long for a worker's answer")
    max_body_bytes: int = Field(64 * 1024, description="Largest accepted ink payload")
    secret_key: SecretStr = Field(
        SecretStr(""), description="Signs sessions and learner identities; the same on every edge. Empty: see below"
    )
    secret_key_file: Path = Field(
        REPO_ROOT / "var" / "secret.key",
        description="Without INKBUS_SECRET_KEY: a key made once and kept here (0600), so identities survive restarts",
    )

    # --- Socket.IO drawing sessions (per connection; see docs/PROTOCOL.md, "Socket.IO")
    socket_top_k: int = Field(3, description="Labels in each live prediction sent to the page")
    socket_max_points_per_message: int = Field(512, description="Most points in one `stroke` event")
    socket_max_messages_per_s: float = Field(50.0, description="Sustained events per second per connection")
    socket_burst: int = Field(100, description="Events a connection may send at once before rate limiting")
    socket_max_strokes: int = Field(64, description="Most strokes in one drawing")
    socket_max_points_per_drawing: int = Field(4096, description="Most points in one drawing, all strokes together")
    socket_max_payload_bytes: int = Field(16 * 1024, description="Largest accepted event payload (JSON bytes)")
    socket_max_frame_bytes: int = Field(
        1024 * 1024, description="Transport cap: a larger Socket.IO packet closes the connection"
    )
    node_modules_dir: Path = Field(
        REPO_ROOT / "web" / "node_modules",
        description="npm packages of the page (socket.io-client), from `make install`",
    )

    # --- observability (docs/OBSERVABILITY.md)
    metrics_host: str = Field("127.0.0.1", description="Address the worker's and sink's /metrics servers listen on")
    worker_metrics_port: int = Field(9108, description="Port of a worker's /metrics server; 0 turns it off")
    sink_metrics_port: int = Field(9109, description="Port of the telemetry sink's /metrics server; 0 turns it off")
    influx_url: str = Field("http://127.0.0.1:8086", description="InfluxDB 2 URL the telemetry sink writes to")
    influx_token: SecretStr = Field(SecretStr(""), description="InfluxDB API token (from the environment only)")
    influx_org: str = Field("inkbus", description="InfluxDB organisation")
    influx_bucket: str = Field("inkbus", description="InfluxDB bucket of the telemetry sink")
    sink_batch_size: int = Field(500, description="Most points in one InfluxDB write")
    sink_flush_interval_s: float = Field(1.0, description="Write buffered points at least this often")
    sink_buffer_max: int = Field(5000, description="Most events the sink holds unacked (the broker keeps the rest)")
    sink_retry_max_s: float = Field(10.0, description="Longest pause between retries of a failed write")
    sink_queue_max: int = Field(1_000_000, description="Most events waiting in the sink's queue (oldest dropped)")
    ops_watch_queues: str = Field(
        "sink=inkbus.sub.telemetry,feedback=inkbus.sub.feedback-engine,bots=inkbus.sub.bots",
        description="Components the /ops page shows, as name=queue pairs: up while their queue has consumers",
    )

    # --- tutoring: feedback engine, progress store, chat (docs/TUTORING.md)
    database_url: str = Field(
        "sqlite:///var/inkbus.db",
        description="Learner progress store (SQLAlchemy URL); a relative SQLite path is under the checkout. "
        "Distributed: postgresql+psycopg://user@host/db",
    )
    feedback_low_confidence: float = Field(0.6, description="Below this top probability a drawing gets a hint")
    feedback_ambiguity_margin: float = Field(
        0.15, description="Top two labels closer than this count as ambiguous (free mode hints)"
    )
    feedback_queue_ttl_ms: int = Field(60_000, description="Events older than this are dropped from subscriber queues")
    feedback_queue_max: int = Field(10_000, description="Most events waiting in a subscriber queue")
    chat_admins: str = Field("", description="Comma-separated user ids allowed to run ops commands in chat")
    chat_latency_window: int = Field(200, description="Recent answers kept for the status command's p95 latency")

    # --- learner identity and privacy (docs/TUTORING.md, "Privacy model")
    identity_days: int = Field(365, description="How long a browser keeps its signed learner identity cookie")
    identity_cookie_secure: bool = Field(False, description="Send the identity cookie over HTTPS only (behind TLS)")
    link_code_ttl_s: int = Field(600, description="A chat account link code expires after this many seconds")
    retention_days: int = Field(
        365, description="Practice attempts and corrections older than this are purged (0 keeps them forever)"
    )
    retention_interval_s: float = Field(3600.0, description="How often the feedback engine purges expired data")

    # --- rate limits at the HTTP doors, per client address (Flask-Limiter notation: "10/second;300/minute")
    rate_limit_storage_url: str = Field(
        "memory://", description="Rate limit counters: memory:// (one edge) or redis://host:6379/0 (shared by edges)"
    )
    rate_limit_recognize: str = Field("20/second;600/minute", description="Requests per client to /api/v1/recognize")
    rate_limit_chat: str = Field("10/second;300/minute", description="Requests per client to the chat and data API")
    rate_limit_chatbots: str = Field(
        "20/second;1200/minute", description="Requests per client to the Slack and Discord endpoints"
    )
    proxy_hops: int = Field(
        0, description="Trusted proxies in front of the edge that set X-Forwarded-For (the client address of limits)"
    )

    # --- Slack (docs/TUTORING.md, "Slack"); off while the tokens are empty
    slack_bot_token: SecretStr = Field(SecretStr(""), description="Slack bot token (chat.postMessage)")
    slack_signing_secret: SecretStr = Field(SecretStr(""), description="Verifies slash-command requests")
    slack_app_token: SecretStr = Field(SecretStr(""), description="App-level token: Socket Mode instead of HTTP")
    slack_channel: str = Field("", description="Channel that gets feedback and alerts from the bus")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL")
    slack_response_url_prefix: str = Field(
        "https://hooks.slack.com/", description="Only answer slash commands through response URLs under this"
    )

    # --- Discord (docs/TUTORING.md, "Discord"); off while the token is empty
    discord_bot_token: SecretStr = Field(SecretStr(""), description="Discord bot token")
    discord_public_key: str = Field("", description="Application public key (hex): verifies HTTP interactions")
    discord_channel_id: int = Field(0, description="Channel that gets feedback and alerts from the bus")
    discord_guild_id: int = Field(0, description="Sync app commands to this guild only (0: globally)")
    discord_api_url: str = Field("https://discord.com/api/v10", description="Discord REST API base URL")

    # --- logging
    log_level: UpperLogLevel = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR or CRITICAL")
    log_json: bool | None = Field(
        None, description="One JSON object per log line; unset: JSON unless stderr is a terminal (then plain text)"
    )

    def batch_limit(self, device: str) -> int:
        """Most jobs in one forward pass on ``device``: a GPU's forward pass costs about the same for 8 inks or
        500, so it takes far more than a CPU's, whose cost grows with the batch."""
        return self.batch_max_cuda if device == "cuda" else self.batch_max

    def for_device(self, device: str) -> Settings:
        """These settings with ``batch_max`` sized for ``device``: what a worker's consumers read."""
        return self.model_copy(update={"batch_max": self.batch_limit(device)})

    @property
    def broker(self) -> BrokerSettings:
        return BrokerSettings(
            url=self.broker_url, connect_timeout_s=self.broker_connect_timeout_s, heartbeat_s=self.broker_heartbeat_s
        )

    @property
    def queues(self) -> QueueSettings:
        return QueueSettings(**{name: getattr(self, name) for name in QueueSettings.model_fields})

    def admins(self) -> set[str]:
        return {a.strip() for a in self.chat_admins.split(",") if a.strip()}

    def registry_root(self) -> str:
        """``model_registry`` with a relative folder made absolute against the checkout."""
        if "://" in self.model_registry or self.model_registry.startswith("/"):
            return self.model_registry
        return str(REPO_ROOT / self.model_registry)

    def object_store_endpoint(self, uri: str) -> str:
        """The endpoint for an ``s3://`` or ``gs://`` URI: the configured one, Cloud Storage's, or AWS (empty)."""
        if self.model_registry_endpoint_url:
            return self.model_registry_endpoint_url
        return self.gcs_endpoint_url if uri.startswith("gs://") else ""

    def resolved_database_url(self) -> str:
        """``database_url`` with a relative SQLite path made absolute against the checkout."""
        prefix = "sqlite:///"
        path = self.database_url[len(prefix) :] if self.database_url.startswith(prefix) else ""
        if path and not path.startswith("/") and path != ":memory:":
            return prefix + str(REPO_ROOT / path)
        return self.database_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def _defaults():
    """(variable, default as text, description) of every setting, defaults as seen from the checkout."""
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        if isinstance(default, SecretStr) or default is None:
            text = ""
        elif isinstance(default, Path):
            text = os.path.relpath(default, REPO_ROOT)
        else:
            text = str(default)
        yield f"INKBUS_{name.upper()}", text, field.description or ""


def settings_table() -> str:
    """The README's configuration table, generated from the fields above (a test keeps them in sync)."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for var, default, description in _defaults():
        rows.append(f"| `{var}` | `{default or '(empty)'}` | {description} |")
    return "\n".join(rows)


def env_example() -> str:
    """``.env.example``: every setting, commented out at its default (a test keeps it in sync)."""
    lines = [
        "# Every Inkbus setting with its default. Copy to .env (git-ignored) and uncomment what you change;",
        "# the environment wins over .env. Generated by `python -m foundation.settings --write`.",
    ]
    for var, default, description in _defaults():
        lines += ["", f"# {description}", f"# {var}={default}"]
    return "\n".join(lines) + "\n"


def write_generated() -> None:
    """Refresh the README's table and ``.env.example`` after a setting changes."""
    readme = REPO_ROOT / "README.md"
    start, end = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
    head, rest = readme.read_text().split(start)
    tail = rest.split(end)[1]
    readme.write_text(f"{head}{start}\n{settings_table()}\n{end}{tail}")
    (REPO_ROOT / ".env.example").write_text(env_example())


if __name__ == "__main__":
    import sys

    if "--write" in sys.argv[1:]:
        write_generated()
    else:
        print(settings_table())
