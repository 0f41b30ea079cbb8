"""The read side's one-shot commands against a NATS that lets only its per-role NKeys in (as
the embedded stack's does): the stack's key found in the data directory works; without it, or
with no server, the command says why in one line with a stable code, without a traceback and
without retrying forever."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import duckdb
import pytest

from infra.embedded.ports import free_port
from infra.nats_setup import prepare
from infra.natsaccess import EMBEDDED_USERS_DIR, Role
from infra.settings import Settings
from readmodels.postgres.rebuild_requests import TABLE
from tests.conftest import SecureNats

SPORTCAST = str(Path(sys.executable).parent / "sportcast")


def stack_env(secure: SecureNats, state_dir: Path, postgres_url: str) -> dict[str, str]:
    """A command's environment as beside `sportcast up`: the port and the data directory
    (plus the TLS the test server insists on), no credentials of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")}
    env.update(
        SPORTCAST_STATE_DIR=str(state_dir),
        SPORTCAST_NATS_PORT=str(secure.server.config.port),
        SPORTCAST_NATS_TLS_CA_FILE=str(secure.certs.ca),
        SPORTCAST_NATS_TLS_CERT_FILE=str(secure.certs.client_cert),
        SPORTCAST_NATS_TLS_KEY_FILE=str(secure.certs.client_key),
        SPORTCAST_POSTGRES_URL=postgres_url,
    )
    return env


def sportcast(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SPORTCAST, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def streams(secure_nats: SecureNats) -> None:
    """The streams exist, as `sportcast up` makes them with the admin's key."""
    prepare(Settings(nats_url=secure_nats.url), secure_nats.url, secure_nats.security())


def give_stack_key(secure: SecureNats, state_dir: Path) -> None:
    users = state_dir / EMBEDDED_USERS_DIR
    users.mkdir(mode=0o700)
    shutil.copy(secure.users.seed_file(Role.STACK), users / f"{Role.STACK.value}.nk")


def test_projections_status_uses_the_stack_key_from_the_data_directory(
    secure_nats: SecureNats, streams: None, state_dir: Path, postgres_url: str
) -> None:
    give_stack_key(secure_nats, state_dir)
    done = sportcast(stack_env(secure_nats, state_dir, postgres_url), "projections", "status")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for projection in ("fixtures", "odds", "forecasts", "track_record", "quarantine"):
        assert projection in done.stdout


@pytest.mark.parametrize(
    "command",
    [
        ("projections", "status"),
        ("projections", "rebuild", "odds"),
        ("analytics", "status"),
    ],
)
def test_without_the_stack_key_a_command_says_the_credentials_were_refused(
    secure_nats: SecureNats,
    streams: None,
    state_dir: Path,
    postgres_url: str,
    command: tuple[str, ...],
) -> None:
    done = sportcast(stack_env(secure_nats, state_dir, postgres_url), *command)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("error")]
    assert line.startswith("error [nats-credentials-refused]")
    assert str(state_dir / EMBEDDED_USERS_DIR) in line


@pytest.mark.parametrize("command", [("projections", "status"), ("analytics", "status")])
def test_with_no_server_a_command_stops_at_once_with_nats_unreachable(
    state_dir: Path, postgres_url: str, command: tuple[str, ...]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")}
    env.update(SPORTCAST_STATE_DIR=str(state_dir), SPORTCAST_NATS_PORT=str(free_port()))
    env["SPORTCAST_POSTGRES_URL"] = postgres_url
    done = sportcast(env, *command)  # before the fix: retried forever (the timeout here)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "error [nats-unreachable]" in done.stderr


def test_projections_status_with_postgres_refusing_the_password(
    secure_nats: SecureNats, streams: None, state_dir: Path, postgres_url: str
) -> None:
    give_stack_key(secure_nats, state_dir)
    parts = urlsplit(postgres_url)
    wrong = urlunsplit(parts._replace(netloc=f"postgres:wrong@{parts.hostname}:{parts.port}"))
    done = sportcast(stack_env(secure_nats, state_dir, wrong), "projections", "status")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "error [postgres-credentials-refused]" in done.stderr


def test_analytics_commands_on_a_file_the_stack_holds_say_so(
    tmp_path: Path, postgres_url: str
) -> None:
    held = tmp_path / "analytics.duckdb"
    holder = duckdb.connect(str(held))  # as a holder that takes no rebuild requests
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")}
        env.update(SPORTCAST_ANALYTICS_DB=str(held), SPORTCAST_POSTGRES_URL=postgres_url)
        done = sportcast(env, "analytics", "query", "live_board")
        rebuilt = sportcast(env, "analytics", "rebuild", "--taken-within", "2")
        asked = asyncio.run(_requests(postgres_url))
    finally:
        holder.close()
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "error [analytics-db-in-use]" in done.stderr
    assert "sportcast projections status" in done.stderr
    # A rebuild is asked of the holder through PostgreSQL; one that takes no requests (e.g.
    # `analytics run` without SPORTCAST_POSTGRES_URL) leaves it unanswered, then withdrawn.
    assert rebuilt.returncode == 2, rebuilt.stdout + rebuilt.stderr
    assert "error [analytics-rebuild-unanswered]" in rebuilt.stderr
    assert "Traceback" not in rebuilt.stderr
    assert asked[-1] == ("analytics", "withdrawn")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analytics.duckdb"]


async def _requests(postgres_url: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(postgres_url)
    try:
        rows = await conn.fetch(f"SELECT projection, state FROM {TABLE} ORDER BY id")
    finally:
        await conn.close()
    return [(r["projection"], r["state"]) for r in rows]
