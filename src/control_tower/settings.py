"""One settings class, read from `CT_*` environment variables when the app or CLI starts."""

from __future__ import annotations

import os
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
    max_body_bytes: int = Field(
        default=64 * 1024,
        description="Body limit of every other request (trigger inputs, run notes, forms).",
    )
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
    ui_session_hours: float = Field(
        default=12.0,
        gt=0,
        description="How long a UI sign-in lasts before the person signs in again; signing "
        "out, or revoking or expiring the token, ends it sooner.",
    )
    group_commit_max_events: int = Field(
        default=5000,
        gt=0,
        description="Most events written in one ingest transaction. Larger commits spread a "
        "transaction's fixed cost further and let the router's passes in less often during a "
        "flood of batches (docs/benchmarks.md).",
    )
    router_enabled: bool = Field(
        default=True,
        description="Run the event router inside `ct serve` (`ct worker` runs one too); turn "
        "off for API-only replicas.",
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
    notify_enabled: bool = Field(
        default=True,
        description="Run the notification delivery worker inside `ct serve` and `ct worker` "
        "(when the catalogue declares channels); off, notifications wait in the outbox.",
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
    stripe_webhook_secrets: str = Field(
        default="",
        description="Comma-separated signing secrets (whsec_…) of the Stripe endpoint that "
        "posts to /integrations/stripe; several while Stripe rolls a secret; empty means the "
        "endpoint answers 503.",
    )
    stripe_rate_limit_per_minute: int = Field(
        default=600,
        gt=0,
        description="Requests per minute (and burst) per client address on "
        "/integrations/stripe, counted before the body is read or the signature checked.",
    )
    token_max_age_days: int = Field(
        default=90,
        gt=0,
        description="A token (and its signing secret) older than this turns CT's own system "
        "amber, naming the token, until it is rotated or revoked.",
    )
    public_url: str | None = Field(
        default=None,
        description="CT's external URL (https://ct.example.com): links in reports start with "
        "it, and Google service-account ID tokens must carry it as their audience. Unset: "
        "service-account tokens are refused.",
    )
    firebase_project_id: str | None = Field(
        default=None,
        description="Firebase project whose ID tokens staff may use as bearer tokens and at "
        "the UI's sign-in. Unset: Firebase ID tokens are refused.",
    )
    firebase_role_claim: str = Field(
        default="ct_role",
        description="Custom claim of a Firebase ID token that may carry a staff role "
        "(viewer, operator, maintainer, owner); `ct users grant` takes precedence.",
    )
    firebase_certs_url: str = Field(
        default="https://www.googleapis.com/robot/v1/metadata/x509/"
        "securetoken@system.gserviceaccount.com",
        description="Where the Firebase ID tokens' public keys are fetched (x509 map or JWK "
        "set), cached for the response's Cache-Control max-age.",
    )
    google_certs_url: str = Field(
        default="https://www.googleapis.com/oauth2/v3/certs",
        description="Where Google's ID-token keys for service accounts are fetched (JWK set "
        "or x509 map), cached for the response's Cache-Control max-age.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto CT believes (the client's address for rate limits, HTTPS for "
        "Secure cookies); empty: none, every address is the connection's own.",
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
        return read_or_create_key(self.data_dir / "master.key")


def read_or_create_key(path: Path) -> bytes:
    """The key in `path`, created on first use: written whole to a temporary file, synced, then
    linked into place, so a crash never leaves a partial key and two processes starting at
    once end up with the same one (the second link fails and reads the first)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if not key:
        raise ValueError(f"{path} is empty: restore it from a backup or set CT_SECRET_KEY")
    return key.encode("utf-8")
