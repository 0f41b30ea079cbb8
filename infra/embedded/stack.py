"""The embedded dev stack: nats-server and PostgreSQL as child processes in one data directory.

Services already running at configured URLs are used instead of starting new ones. The data
directory is locked before anything in it is touched: one stack per directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType

from infra.embedded.lock import DataDirLock
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.nats_users import NatsUsers
from infra.embedded.postgres import EmbeddedPostgres, PostgresConfig
from infra.embedded.supervisor import Supervised
from infra.eventstore.security import NatsSecurity
from infra.nats_setup import prepare, stream_names
from infra.natsaccess import EMBEDDED_USERS_DIR, Role
from infra.settings import Durability, Settings


@dataclass
class StackEndpoints:
    nats_url: str
    postgres_url: str
    started: list[str] = field(default_factory=list)  # which services this stack started
    nats_security: NatsSecurity | None = None  # the embedded NATS's service user (stack role)


class EmbeddedStack:
    """Context manager: starts what is not configured as already running, stops it on exit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.nats: EmbeddedNats | None = None
        self.postgres: EmbeddedPostgres | None = None
        self.lock = DataDirLock(settings.state_dir)

    def start(self) -> StackEndpoints:
        s = self.settings
        s.state_dir.mkdir(parents=True, exist_ok=True)
        if not (s.nats_url and s.postgres_url):
            self.lock.acquire()  # raises DataDirInUse before anything is written
        endpoints = StackEndpoints(nats_url=s.nats_url or "", postgres_url=s.postgres_url or "")
        try:
            if not s.nats_url:
                # A user per role, keys in the state dir (0600); the streams made as admin.
                users = NatsUsers(s.state_dir / EMBEDDED_USERS_DIR).ensure()
                self.nats = EmbeddedNats(
                    NatsConfig(
                        store_dir=s.nats_store_dir,
                        port=s.nats_port,
                        monitor_port=s.nats_monitor_port,
                        sync_always=s.durability is Durability.FSYNC,
                        max_payload=s.max_payload_bytes,
                        authorization=users.authorization(stream_names(s)),
                    )
                )
                self.nats.start()
                endpoints.nats_url = self.nats.url
                prepare(s, self.nats.url, users.security(Role.ADMIN))
                endpoints.nats_security = users.security(Role.STACK)
                endpoints.started.append("nats-server")
            if not s.postgres_url:
                self.postgres = EmbeddedPostgres(
                    PostgresConfig(data_dir=s.state_dir / "postgres", port=s.postgres_port)
                )
                self.postgres.start()
                endpoints.postgres_url = self.postgres.url(s.postgres_database)
                endpoints.started.append("postgresql")
        except BaseException:
            self.stop()
            raise
        return endpoints

    def children(self) -> list[Supervised]:
        """The child processes this stack started, for the supervisor."""
        named: list[tuple[str, EmbeddedNats | EmbeddedPostgres | None]] = [
            ("nats-server", self.nats),
            ("postgresql", self.postgres),
        ]
        return [Supervised(name, child) for name, child in named if child is not None]

    def stop(self) -> None:
        # Reverse start order; each stop is idempotent.
        if self.postgres is not None:
            self.postgres.stop()
        if self.nats is not None:
            self.nats.stop()
        self.lock.release()

    def __enter__(self) -> StackEndpoints:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
