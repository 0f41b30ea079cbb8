"""Typed settings, read once by the composition root (never at import time)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from urllib.parse import quote

import platformdirs
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.eventstore.security import NatsSecurity
from infra.natsaccess import EMBEDDED_USERS_DIR, Role, embedded_seed_file


class Durability(StrEnum):
    """How an acknowledged event is protected (see docs/adr/0003)."""

    FSYNC = "fsync"  # every acknowledged event is on disk (nats-server sync_interval: always)
    REPLICATED = "replicated"  # server default flush; safety from R3 replication


def default_state_dir() -> Path:
    return Path(platformdirs.user_data_dir("sportcast", appauthor=False))


def default_datasets_dir() -> Path:
    return Path("../shared/data")


def _also(name: str, library_name: str) -> AliasChoices:
    """Accept a field as SPORTCAST_<NAME>, and under the event store's own (eventsourcing) name."""
    return AliasChoices(f"SPORTCAST_{name.upper()}", library_name)


class Settings(BaseSettings):
    """Every tunable of sportcast. Environment variables use the prefix ``SPORTCAST_``."""

    model_config = SettingsConfigDict(
        env_prefix="SPORTCAST_", env_file=".env", extra="ignore", populate_by_name=True
    )

    state_dir: Path = Field(
        default_factory=default_state_dir,
        description="Where the embedded stack keeps NATS and PostgreSQL data.",
    )
    data_dir: Path = Field(
        default_factory=default_datasets_dir,
        description="The public sports datasets (football/, nba/, worldcup/).",
    )

    nats_url: str | None = Field(
        default=None, description="Use this running NATS server instead of starting one."
    )
    # TLS and credentials for every NATS connection of the process (infra/eventstore/security.py).
    nats_tls_ca_file: Path | None = Field(
        default=None, description="CA certificate(s) that sign the NATS servers' certificates."
    )
    nats_tls_cert_file: Path | None = Field(
        default=None, description="Client certificate for NATS (mutual TLS); needs the key."
    )
    nats_tls_key_file: Path | None = Field(default=None, description="Its private key.")
    nats_tls_required: bool = Field(
        default=False, description="Always speak TLS to NATS (implied by a CA file or tls://)."
    )
    nats_user: str | None = Field(default=None, description="NATS user (with the password).")
    nats_password: SecretStr | None = None
    nats_token: SecretStr | None = Field(default=None, description="NATS authentication token.")
    nats_nkey_seed_file: Path | None = Field(
        default=None, description="File holding the NKey seed of this process's NATS user."
    )
    nats_creds_file: Path | None = Field(
        default=None, description="NATS .creds file (user JWT + NKey seed), as nsc writes it."
    )
    nats_wire: bool = Field(
        default=True,
        description="Our own NATS protocol clients for event-store reads and writes (faster); "
        "false: nats-py serves every call.",
    )
    # The event store's own settings, also read under eventsourcing's names (NATS_SAVE_TIMEOUT..).
    nats_save_timeout: float = Field(
        default=10.0,
        gt=0,
        validation_alias=_also("nats_save_timeout", "NATS_SAVE_TIMEOUT"),
        description="Seconds a save keeps retrying through a NATS reconnect.",
    )
    nats_duplicate_window: float = Field(
        default=120.0,
        gt=0,
        validation_alias=_also("nats_duplicate_window", "NATS_DUPLICATE_WINDOW"),
        description="Seconds JetStream remembers a message id (new streams only).",
    )
    nats_chain_key: SecretStr | None = Field(
        default=None,
        validation_alias=_also("nats_chain_key", "NATS_CHAIN_KEY"),
        description="Secret that makes the event hash chain an HMAC (unforgeable).",
    )
    audit_workers: int | None = Field(
        default=None,
        ge=1,
        description="Processes that verify ranges of the log in `audit verify` "
        "(default: the CPU count; with --store-dir, 1 while the load is at twice the CPUs; "
        "1: in the auditor's own process only).",
    )
    audit_parallel_from: int = Field(
        default=1_000_000,
        ge=0,
        description="`audit verify` splits a stream only from this many messages "
        "(below, starting the processes costs more than they save; ADR 0031).",
    )
    nats_port: int = Field(default=4222, ge=1, le=65535)
    nats_monitor_port: int = Field(default=8222, ge=1, le=65535)
    postgres_url: str | None = Field(
        default=None, description="Use this running PostgreSQL instead of starting one."
    )
    postgres_port: int = Field(default=5433, ge=1, le=65535)
    postgres_database: str = "sportcast"

    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve /metrics (Prometheus) on this port from a service without HTTP of its"
        " own (`serve forecaster`, `serve feed-health`, `serve projector`); unset: none.",
    )

    durability: Durability = Durability.FSYNC
    stream_name: str = "SPORTCAST_EVENTS"
    stream_replicas: int = Field(default=1, ge=1, le=5)
    max_payload_bytes: int = Field(default=1024 * 1024, ge=1024)

    feed_tokens: dict[str, str] = Field(
        default_factory=dict,
        description='Bootstrap feed provider bearer tokens, JSON: {"<token>": "<provider>"}; '
        "the gateway stores each in the key store at start as a feed:write key bound to its "
        "provider (short id feed-<12 hex>), listed and revoked with `sportcast keys` like any "
        "key; a revoked one stays revoked (prefer `sportcast keys create --provider`).",
    )
    oauth_issuers: dict[str, str] = Field(
        default_factory=dict,
        description='OAuth2 issuers whose bearer JWTs are accepted, JSON: {"<iss>": "<JWKS URL>"}.',
    )
    oauth_audience: str = Field(
        default="sportcast", description="The 'aud' every accepted JWT must carry."
    )
    oauth_jwks_lifespan_seconds: float = Field(default=300, gt=0)
    oauth_jwks_cooldown_seconds: float = Field(
        default=30, ge=0, description="Least time between two JWKS fetches for an unknown kid."
    )
    api_key_cache_seconds: float = Field(
        default=5, ge=0, description="How long a verified API key is trusted without a lookup."
    )
    rate_limit_storage: str = Field(
        default="async+memory://",
        description="Where request budgets are counted (the limits library's storage URI); "
        "async+redis://... shares them between gateway processes.",
    )
    rest_latest_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="Longest a gateway process keeps a fixture's latest-forecast answer (0: "
        "none). Copies are kept current by the projections' commit notifications and "
        "rest_latest_check_seconds, not by this (docs/adr/0029).",
    )
    rest_latest_check_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often each gateway process checks what the forecasts and fixtures "
        "projections committed: a latest-forecast answer is never older than a commit by more "
        "than twice this, even if a commit notification is lost.",
    )
    default_requests_per_minute: int = Field(
        default=600, ge=1, description="Budget of JWT callers and bootstrap feed tokens."
    )
    default_connections: int = Field(
        default=10, ge=0, description="Open streams per JWT caller or bootstrap feed token."
    )
    feed_bookmakers: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Bookmakers each feed provider may relay prices for, besides itself, JSON: "
        '{"<provider>": ["<bookmaker>", ...]}.',
    )
    supervise_backoff_seconds: float = Field(
        default=1.0,
        gt=0,
        description="First pause before `sportcast up` restarts a child that exited; doubles.",
    )
    supervise_max_restarts: int = Field(
        default=5, ge=0, description="Failed restarts in a row before the stack is stopped."
    )
    pinot_broker_url: str | None = Field(
        default=None, description="Pinot broker for dashboards; the embedded engine when unset."
    )
    kafka_bootstrap: str | None = Field(
        default=None, description="Kafka that Pinot ingests from (compose only)."
    )
    kafka_security_protocol: str = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_sasl_mechanism: str | None = Field(default=None, description="e.g. SCRAM-SHA-512.")
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    analytics_page_events: int = Field(
        default=5000, ge=1, description="Most events of each log in one analytics transaction."
    )
    analytics_query_threads: int = Field(
        default=1, ge=1, le=64, description="DuckDB threads per dashboard query (embedded)."
    )
    analytics_db: Path | None = Field(
        default=None,
        description="The embedded analytics DuckDB file (default: analytics.duckdb in the "
        "state directory).",
    )

    forecaster_stream: str = "SPORTCAST_FORECASTS"
    model_registry_stream: str = "SPORTCAST_MODEL_REGISTRY"
    model_bucket: str = "SPORTCAST_MODELS"
    model_file: Path | None = Field(
        default=None, description="A trained model artifact for the forecaster (sportcast model)."
    )
    inplay_model_file: Path | None = Field(
        default=None, description="A trained in-play football model artifact for the forecaster."
    )
    nba_model_file: Path | None = Field(
        default=None,
        description="Trained NBA pre-game and in-play models for the forecaster "
        "(sportcast model train-nba).",
    )
    forecaster_track_every_events: int = Field(
        default=1000, ge=1, description="Events learnt between two writes of the position alone."
    )
    forecaster_track_every_seconds: float = Field(
        default=1.0, gt=0, description="Seconds at most between two writes of the position."
    )
    forecaster_group_events: int = Field(
        default=1000,
        ge=1,
        description="Most feed events processed as one unit while a backlog waits (one model "
        "call; one atomic save when they give forecasts from more than 4 triggers).",
    )
    feed_health_stream: str = "SPORTCAST_FEED_HEALTH"
    feed_health_stale_after_seconds: float = Field(default=900, gt=0)
    feed_health_window_seconds: float = Field(default=3 * 3600, gt=0)
    feed_health_check_interval_seconds: float = Field(default=30, gt=0)

    checkpoint_interval_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often a running stack seals each stream with a signed checkpoint "
        "(also once at shutdown).",
    )
    checkpoint_keys_file: Path | None = Field(
        default=None,
        description='Checkpoint signing keys, JSON {"current": id, "keys": {id: hex}}; the '
        "embedded stack makes one in its state dir (0600) when unset.",
    )
    sse_heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="Seconds between heartbeat comments on every stream."
    )
    sse_buffer_events: int = Field(
        default=10_000, ge=1, description="Recent events per log each gateway keeps for resumes."
    )
    sse_replay_limit: int = Field(
        default=1_000_000,
        ge=0,
        description="A Last-Event-ID more stream messages behind than this gets event: reset.",
    )
    sse_client_buffer_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Frames queued for one client before it is cut."
    )
    sse_send_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A stream blocked this long on one write is cut."
    )
    sse_retry_ms: int = Field(
        default=2000, ge=0, description="The retry: hint (jittered up to twice) at shutdown."
    )
    projector_page_events: int = Field(
        default=5000,
        ge=1,
        description="Most events a projection applies in one transaction while a backlog waits.",
    )
    projector_share_reads: bool = Field(
        default=False,
        description="Read a stream once for every projection following it (lower lag p50,"
        " but no better p99 or rebuild on the whole dataset, measured alternating:"
        " docs/adr/0033).",
    )
    projector_in_up: bool = Field(
        default=True, description="`sportcast up` runs the projector beside the gateway."
    )

    otel_exporter_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces endpoint; unset: no tracing at all (nothing recorded,"
        " no trace context in stored messages).",
    )
    log_level: str = "INFO"
    gateway_access_log: bool = Field(
        default=False,
        description="uvicorn's access log, one line per HTTP request (off: it is a per-request "
        "cost on the hottest reads; refusals and errors are logged anyway, docs/adr/0029).",
    )

    def nats_security(self, role: Role = Role.STACK) -> NatsSecurity:
        """TLS and credentials for every NATS connection of this process.

        With no credentials configured and no external NATS, the embedded stack's own NKey for
        ``role`` (generated into the state directory by ``sportcast up``) is used when present.
        """
        nkey_seed_file = self.nats_nkey_seed_file
        configured = nkey_seed_file or self.nats_creds_file or self.nats_user or self.nats_token
        if not configured and self.nats_url is None:
            embedded = embedded_seed_file(self.state_dir / EMBEDDED_USERS_DIR, role)
            if embedded.exists():
                nkey_seed_file = embedded
        return NatsSecurity(
            tls_ca_file=str(self.nats_tls_ca_file or ""),
            tls_cert_file=str(self.nats_tls_cert_file or ""),
            tls_key_file=str(self.nats_tls_key_file or ""),
            tls_required=self.nats_tls_required,
            user=self.nats_user or "",
            password=self.nats_password.get_secret_value() if self.nats_password else "",
            token=self.nats_token.get_secret_value() if self.nats_token else "",
            nkey_seed_file=str(nkey_seed_file or ""),
            creds_file=str(self.nats_creds_file or ""),
        )

    @property
    def nats_store_dir(self) -> Path:
        """The embedded nats-server's directory (JetStream store, its conf and log)."""
        return self.state_dir / "nats"

    @property
    def checkpoint_keys_path(self) -> Path:
        return self.checkpoint_keys_file or self.state_dir / "secrets" / "checkpoint-keys.json"

    @property
    def postgres_client_url(self) -> str:
        """The PostgreSQL to talk to: the configured one, else the embedded stack's port, with
        the password the embedded stack generated in the data directory (0600, ADR 0017)."""
        if self.postgres_url:
            return self.postgres_url
        secret = self.state_dir / "postgres" / "password"
        password = f":{quote(secret.read_text().strip(), safe='')}" if secret.exists() else ""
        port, database = self.postgres_port, self.postgres_database
        return f"postgresql://postgres{password}@127.0.0.1:{port}/{database}"

    @property
    def demo_history_stream(self) -> str:
        """The demo's simulated past seasons, which its champions are trained on (infra/demo.py)."""
        return f"{self.stream_name}_DEMO_HISTORY"

    @property
    def replay_history_stream(self) -> str:
        """The datasets' past seasons `sportcast up --replay` trains its champions on."""
        return f"{self.stream_name}_REPLAY_HISTORY"

    @property
    def demo_season_path(self) -> Path:
        """The demo season `sportcast up` plays (infra/demo.py): the next start continues it."""
        return self.state_dir / "demo" / "season.json"

    @property
    def demo_key_path(self) -> Path:
        """Where `sportcast up` keeps the dashboard's read key (0600)."""
        return self.state_dir / "secrets" / "dashboard-key"

    @property
    def nats_client_url(self) -> str:
        """The NATS to talk to: the configured one, else the embedded stack's port."""
        return self.nats_url or f"nats://127.0.0.1:{self.nats_port}"
