"""One Settings object, read from ``INKBUS_*`` environment variables (or a ``.env`` file).

No other module holds URLs, paths or secrets as literals: they take a ``Settings``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INKBUS_", env_file=".env", extra="ignore")

    # --- bus
    broker_url: str = Field("amqp://guest:guest@127.0.0.1:5672//", description="RabbitMQ (AMQP 0-9-1) URL")
    broker_connect_timeout_s: float = Field(2.0, description="Timeout for one broker connection attempt")
    job_ttl_ms: int = Field(10_000, description="Per-message TTL of a live recognition job; stale jobs are dropped")
    dead_letter_ttl_ms: int = Field(7 * 24 * 3600 * 1000, description="How long dead-lettered jobs are kept")
    dead_letter_max: int = Field(100_000, description="Most dead-lettered jobs kept (oldest dropped first)")
    publish_confirm_timeout_s: float = Field(5.0, description="Wait this long for a publisher confirm")

    # --- worker
    batch_max: int = Field(64, description="Most jobs in one forward pass")
    batch_wait_ms: float = Field(2.0, description="How long a worker waits to fill a batch once it has a job")
    worker_batching: bool = Field(True, description="Run the micro-batching job consumer in the worker")
    worker_pool: str = Field("solo", description="Celery pool for the worker process: solo, threads or prefork")
    worker_concurrency: int = Field(1, description="Batching consumers per worker process")
    torch_threads: int = Field(0, description="torch intra-op threads; 0 keeps torch's default")

    # --- model and data
    model_path: Path = Field(REPO_ROOT / "models" / "inknet.pt", description="Exported model artifact")
    data_dir: Path = Field(REPO_ROOT.parent / "shared" / "data", description="Training/evaluation data directory")
    emnist_url: str = Field(
        "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip",
        description="NIST's official EMNIST archive, fetched by `inkbus fetch-emnist`",
    )
    top_k: int = Field(5, description="Default number of labels in a prediction")

    # --- edge
    host: str = Field("127.0.0.1", description="Address the edge listens on")
    port: int = Field(8000, description="Port the edge listens on")
    async_mode: str = Field("gevent", description="Flask-SocketIO async mode: gevent, threading or eventlet")
    request_timeout_s: float = Field(10.0, description="HTTP recognition waits this long for a worker's answer")
    max_body_bytes: int = Field(64 * 1024, description="Largest accepted ink payload")
    secret_key: SecretStr = Field(SecretStr(""), description="Flask secret key; a random one is made if empty")

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

    # --- logging
    log_level: str = Field("INFO", description="Log level")
    log_json: bool = Field(True, description="One JSON object per log line")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def settings_table() -> str:
    """The README's configuration table, generated from the fields above (a test keeps them in sync)."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default
        if isinstance(default, SecretStr):
            default = "(empty)"
        elif isinstance(default, Path):
            default = os.path.relpath(default, REPO_ROOT)  # as seen from the checkout
        rows.append(f"| `INKBUS_{name.upper()}` | `{default}` | {field.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
