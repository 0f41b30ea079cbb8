"""The embedded PostgreSQL asks everyone for a generated password and connects as its own
role (issue 13, items 9 and 14): checked on the session's real server."""

from __future__ import annotations

import asyncio
import shutil
import stat

import asyncpg
import pytest

from infra.embedded.ports import free_port
from infra.embedded.postgres import EmbeddedPostgres, PostgresConfig
from tests.conftest import outside_pytest_tmp


async def _user(port: int, password: str | None) -> str:
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", password=password)
    try:
        return str(await conn.fetchval("SELECT current_user"))
    finally:
        await conn.close()


def test_a_connection_without_the_generated_password_is_refused(
    postgres_server: EmbeddedPostgres,
) -> None:
    secret = postgres_server.password_file
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    port = postgres_server.config.port
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(_user(port, None))
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(_user(port, "guess"))
    assert asyncio.run(_user(port, postgres_server.password())) == "postgres"
    hba = (postgres_server.pgdata / "pg_hba.conf").read_text()
    methods = {line.split()[-1] for line in hba.splitlines() if line.strip() and line[0] != "#"}
    assert methods == {"scram-sha-256"}


def test_starting_logs_no_unknown_role(postgres_server: EmbeddedPostgres) -> None:
    log = (postgres_server.config.data_dir / "postgres.log").read_text()
    assert 'role "root" does not exist' not in log
    assert "role" not in " ".join(line for line in log.splitlines() if "does not exist" in line)


def test_a_data_directory_made_with_trust_is_converted_on_its_next_start() -> None:
    with outside_pytest_tmp("pg-trust") as root:
        server = EmbeddedPostgres(PostgresConfig(data_dir=root / "data", port=free_port()))
        server.start()
        server.stop()
        # As the code before passwords left it: trust everywhere, no password file.
        hba = server.pgdata / "pg_hba.conf"
        hba.write_text(hba.read_text().replace("scram-sha-256", "trust"))
        server.password_file.unlink()
        server.start()
        try:
            assert asyncio.run(_user(server.config.port, server.password())) == "postgres"
            with pytest.raises(asyncpg.InvalidPasswordError):
                asyncio.run(_user(server.config.port, None))
            assert "trust" not in {
                line.split()[-1]
                for line in hba.read_text().splitlines()
                if line.strip() and line[0] != "#"
            }
        finally:
            server.stop()
        shutil.rmtree(root / "data", ignore_errors=True)
