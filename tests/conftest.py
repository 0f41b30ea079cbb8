"""Shared fixtures: a real nats-server and a real PostgreSQL, started once per test session.

Tests that need isolation get a fresh database (``postgres_url``) or a unique name to build a
fresh JetStream stream from (``unique_name``).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from infra.certs import CertificateFiles
from infra.embedded.nats import EmbeddedNats
from infra.embedded.nats_users import NatsUsers
from infra.embedded.ports import free_port
from infra.embedded.postgres import EmbeddedPostgres, PostgresConfig
from infra.eventstore.security import NatsSecurity
from infra.natsaccess import Role, StreamNames
from tests.own_nats import own_nats
from tests.tls_nats import tls_nats_server

ROOT = Path(__file__).resolve().parents[1]
_LAYER_MARKERS = ("unit", "contract", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The folder a test lives in is its layer: tests/unit -> @unit, and so on.
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in _LAYER_MARKERS:
            item.add_marker(parts[0] if parts[0] != "contract" else "integration")


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    # sync_always off for speed here; durability tests start their own server
    with own_nats(tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture
def nats_url(nats_server: EmbeddedNats) -> str:
    return nats_server.url


@dataclass(frozen=True)
class SecureNats:
    """A nats-server speaking only TLS (client certificates required) to NKey users, one per
    role (infra/natsaccess.py); its CA and keys are made by the fixture."""

    server: EmbeddedNats
    users: NatsUsers
    certs: CertificateFiles

    @property
    def url(self) -> str:
        return self.server.url

    def security(self, role: Role = Role.ADMIN) -> NatsSecurity:
        return self.users.security(role, self.certs)


@pytest.fixture(scope="session")
def secure_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureNats]:
    root = tmp_path_factory.mktemp("secure-nats")
    users = NatsUsers(root / "users").ensure()
    server, certs = tls_nats_server(root, users.authorization(StreamNames()))
    server.start()
    yield SecureNats(server, users, certs)
    server.stop()


# How the event store suites reach a server: plain, TLS + NKey on our own protocol paths, and
# TLS + NKey with those paths switched off (nats-py serves every call).
STORE_PROFILES = ("plain", "tls-nkey", "tls-nkey-nats-py")


@pytest.fixture(params=STORE_PROFILES)
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The event store's environment for each server profile in turn."""
    return store_environment(request.param, request)


def store_environment(profile: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The event store's environment keys (NATS_URL and security) for ``profile``."""
    if profile == "plain":
        return {"NATS_URL": request.getfixturevalue("nats_url")}
    secure: SecureNats = request.getfixturevalue("secure_nats")
    env = {"NATS_URL": secure.url, **secure.security(Role.ADMIN).as_env()}
    if profile == "tls-nkey-nats-py":
        env["NATS_WIRE"] = "no"
    return env


@pytest.fixture
def unique_name() -> str:
    """A name no other test uses: for a fresh JetStream stream, bucket or consumer."""
    return f"T{uuid.uuid4().hex[:12].upper()}"


@contextmanager
def outside_pytest_tmp(prefix: str) -> Iterator[Path]:
    """A directory outside pytest's basetemp, removed afterwards.

    Embedded PostgreSQL runs as its own user. A second pytest session started by the same user
    resets the basetemp's parent to mode 0700, which locks that user out of a data directory kept
    there (PANIC: could not open pg_control). PostgreSQL data therefore lives elsewhere.
    """
    path = Path(tempfile.mkdtemp(prefix=f"sportcast-{prefix}-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[EmbeddedPostgres]:
    with outside_pytest_tmp("pg") as data_root:
        server = EmbeddedPostgres(PostgresConfig(data_dir=data_root / "data", port=free_port()))
        server.start()
        yield server
        server.stop()


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A fresh state directory for a whole `sportcast up` stack (PostgreSQL data included)."""
    with outside_pytest_tmp("state") as path:
        yield path


@contextmanager
def fresh_database(postgres_server: EmbeddedPostgres) -> Iterator[str]:
    """A fresh, empty database's URL, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(postgres_server.url("postgres"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_server.url(name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url(postgres_server: EmbeddedPostgres) -> Iterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    with fresh_database(postgres_server) as url:
        yield url
