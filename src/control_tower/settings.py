"""One settings class, read from `CT_*` environment variables when the app or CLI starts."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CT_", extra="ignore")

    data_dir: Path = Field(
        default=Path(".ct"), description="Folder for the SQLite file, the master key and archives."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is sqlite:///<data_dir>/ct.sqlite3. "
        "Use postgresql+psycopg://… for PostgreSQL.",
    )
    catalog: Path | None = Field(
        default=None, description="Path to a catalogue YAML; default is Swan's built-in one."
    )
    secret_key: str | None = Field(
        default=None,
        description="Master key that derives producers' signing secrets; default is a random key "
        "kept in <data_dir>/master.key (mode 600).",
    )
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = Field(
        default="FULL",
        description="SQLite PRAGMA synchronous; FULL survives power loss, NORMAL only a crash.",
    )
    max_event_bytes: int = Field(default=256 * 1024, description="Body limit of POST /events.")
    max_batch_bytes: int = Field(
        default=4 * 1024 * 1024, description="Body limit of POST /events/batch."
    )
    max_batch_events: int = Field(default=500, description="Most events in one batch.")
    signature_tolerance_seconds: int = Field(
        default=300, description="How far X-CT-Timestamp may be from now."
    )
    rate_limit_per_minute: int = Field(
        default=60, description="Default sustained requests per minute per token."
    )
    rate_limit_burst: int = Field(default=120, description="Default burst per token.")
    anonymous_rate_limit_per_minute: int = Field(
        default=60, description="Requests per minute per client address without a valid token."
    )
    token_cache_seconds: float = Field(
        default=2.0,
        description="How long a process trusts a token lookup; a revocation in another process "
        "takes effect within this time.",
    )
    group_commit_max_events: int = Field(
        default=1000, description="Most events written in one ingest transaction."
    )
    ingest_writers: int = Field(
        default=2,
        ge=1,
        description="Ingest transactions in flight at once on PostgreSQL (SQLite: always one).",
    )
    ingest_writer: Literal["auto", "loop", "process", "thread"] = Field(
        default="auto",
        description="Where ingest commits run: `loop`, async connections on the API's event "
        "loop (PostgreSQL only); `process`, a child process per writer (commits never compete "
        "with the API for the GIL); `thread`, threads of the API process; `auto` (the "
        "default), `loop` on PostgreSQL and `process` on SQLite. With `loop` or `process`, "
        "commits of 256+ rows still run in a thread.",
    )

    def resolved_ingest_writer(self) -> str:
        """`ingest_writer` with `auto` decided by the store."""
        if self.ingest_writer != "auto":
            return self.ingest_writer
        return "loop" if self.resolved_database_url().startswith("postgresql") else "process"

    router_enabled: bool = Field(
        default=True, description="Run the event router with `ct serve` (`ct worker` runs one too)."
    )
    router_process: bool = Field(
        default=True,
        description="`ct serve` routes (and runs the run worker) in a child `ct worker` process "
        "it restarts if it dies, so routing never takes the API's core; false: in the API process.",
    )
    router_metrics_url: str | None = Field(
        default=None,
        description="Set by `ct serve` for its API processes: where the router child serves its "
        "counters, which /metrics appends to its own.",
    )
    router_batch_size: int = Field(default=500, description="Events the router claims at once.")
    router_lease_seconds: float = Field(
        default=30.0, description="How long a router's claim lasts before another may take it."
    )
    router_max_attempts: int = Field(
        default=5, description="Routing attempts before an event goes to the DLQ."
    )
    router_backoff_base_seconds: float = Field(
        default=2.0, description="First retry delay; doubles per attempt, with jitter."
    )
    router_backoff_max_seconds: float = Field(default=300.0, description="Longest retry delay.")
    metrics_public: bool = Field(
        default=False, description="Serve /metrics without a token (otherwise viewer+)."
    )
    worker_enabled: bool = Field(
        default=True,
        description="Run the run worker inside `ct serve` (turn off when `ct worker` runs apart).",
    )
    worker_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often an idle run worker looks for due runs."
    )
    worker_lease_seconds: int = Field(
        default=60,
        ge=1,
        description="How long a worker's claim on a run outlives the trigger's timeout; after "
        "that another worker may take the run over.",
    )
    trigger_target_base_url: str | None = Field(
        default=None,
        description="Replaces scheme, host and port of every trigger target URL in the "
        "catalogue (keeps the path), e.g. http://127.0.0.1:9000 for a staging stub.",
    )
    scheduler_enabled: bool = Field(
        default=True,
        description="Run the scheduler (pollers and other periodic jobs) inside `ct serve`; "
        "on PostgreSQL only the process holding the leader lock runs jobs.",
    )
    scheduler_tick_seconds: float = Field(
        default=1.0, gt=0, description="How often the scheduler looks for due jobs."
    )
    github_rate_limit_per_minute: int = Field(
        default=600,
        gt=0,
        description="Requests per minute (and burst) per client address on "
        "/integrations/github, counted before the body is read or the signature checked.",
    )
    github_webhook_secret: str | None = Field(
        default=None,
        description="Secret of the GitHub webhook that posts to /integrations/github "
        "(X-Hub-Signature-256); unset means the endpoint answers 503.",
    )
    log_level: str = Field(default="INFO", description="Log level of the JSON logs.")
    log_json: bool = Field(default=True, description="JSON logs (true) or console logs (false).")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ct.sqlite3').resolve()}"

    def master_key(self) -> bytes:
        if self.secret_key:
            return self.secret_key.encode("utf-8")
        path = self.data_dir / "master.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_hex(32))
        return path.read_text().strip().encode("utf-8")
