"""API keys in PostgreSQL (schema ``access``): the short token, SHA-256 of the long one, what the
key may do and the plan it carries. Revoking notifies every gateway on ``sportcast_key_revoked``
so their caches drop the key at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

import asyncpg

from commands.api_keys import KeyRecord, NewKey, generate_key, long_hash, presented_feed_token
from domain.access import Limits, Plan, Scope, parse_scopes
from infra.notices import Subscription

REVOKED_CHANNEL = "sportcast_key_revoked"

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS access;
CREATE TABLE IF NOT EXISTS access.api_keys (
    short_token         text PRIMARY KEY,
    long_hash           bytea NOT NULL CHECK (length(long_hash) = 32),
    name                text NOT NULL,
    scopes              text[] NOT NULL,
    plan                text[] NOT NULL,
    provider            text,
    requests_per_minute integer NOT NULL CHECK (requests_per_minute > 0),
    connections         integer NOT NULL CHECK (connections >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    revoked_at          timestamptz
);
"""

_COLUMNS = (
    "short_token, long_hash, name, scopes, plan, provider, requests_per_minute, connections, "
    "created_at, revoked_at"
)


async def ensure_schema(pool: asyncpg.Pool) -> None:
    """Create the key table if missing. Serialised by an advisory lock: several gateway
    processes may start at once, and concurrent CREATE ... IF NOT EXISTS can still clash."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('sportcast.access.schema'))")
        await conn.execute(SCHEMA)


def _record(row: asyncpg.Record) -> KeyRecord:
    return KeyRecord(
        short=row["short_token"],
        long_hash=bytes(row["long_hash"]),
        name=row["name"],
        scopes=parse_scopes(row["scopes"]),
        plan=Plan.parse(row["plan"]),
        limits=Limits(
            requests_per_minute=row["requests_per_minute"], connections=row["connections"]
        ),
        provider=row["provider"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


class PostgresKeyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def find(self, short: str) -> KeyRecord | None:
        try:
            row = await self._pool.fetchrow(
                f"SELECT {_COLUMNS} FROM access.api_keys WHERE short_token = $1", short
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise ConnectionError(f"the key store cannot be read: {exc}") from exc
        return None if row is None else _record(row)

    async def create(
        self,
        *,
        name: str,
        scopes: Iterable[Scope],
        plan: Plan,
        limits: Limits,
        provider: str | None = None,
    ) -> tuple[NewKey, KeyRecord]:
        new = generate_key()
        row = await self._pool.fetchrow(
            f"INSERT INTO access.api_keys (short_token, long_hash, name, scopes, plan, provider, "
            f"requests_per_minute, connections) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            f"RETURNING {_COLUMNS}",
            new.short,
            new.long_hash,
            name,
            sorted(s.value for s in scopes),
            plan.entries(),
            provider,
            limits.requests_per_minute,
            limits.connections,
        )
        assert row is not None
        return new, _record(row)

    async def adopt_feed_tokens(self, tokens: Mapping[str, str], limits: Limits) -> list[str]:
        """Store each bootstrap feed token (``{token: provider}``, SPORTCAST_FEED_TOKENS) as a
        ``feed:write`` key bound to its provider, unless it is stored already: a token revoked
        with ``sportcast keys revoke`` stays revoked however often a gateway starts with it.
        Returns the short ids newly stored."""
        adopted = []
        async with self._pool.acquire() as conn, conn.transaction():
            for token, provider in sorted(tokens.items(), key=lambda item: item[1]):
                presented = presented_feed_token(token)
                stored = await conn.fetchval(
                    "INSERT INTO access.api_keys (short_token, long_hash, name, scopes, plan, "
                    "provider, requests_per_minute, connections) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                    "ON CONFLICT (short_token) DO NOTHING RETURNING short_token",
                    presented.short,
                    long_hash(presented.long),
                    f"feed token of {provider} (SPORTCAST_FEED_TOKENS)",
                    [Scope.FEED_WRITE.value],
                    [],
                    provider,
                    limits.requests_per_minute,
                    limits.connections,
                )
                if stored is not None:
                    adopted.append(stored)
        return adopted

    async def list(self, *, include_revoked: bool = False) -> list[KeyRecord]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM access.api_keys "
            f"WHERE $1 OR revoked_at IS NULL ORDER BY created_at, short_token",
            include_revoked,
        )
        return [_record(r) for r in rows]

    async def revoke(self, short: str, *, at: datetime | None = None) -> KeyRecord | None:
        """Revoke the key (once; a second revoke keeps the first time) and tell the gateways."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"UPDATE access.api_keys SET revoked_at = COALESCE(revoked_at, $2, now()) "
                f"WHERE short_token = $1 RETURNING {_COLUMNS}",
                short,
                at,
            )
            if row is not None:
                await conn.execute("SELECT pg_notify($1, $2)", REVOKED_CHANNEL, short)
        return None if row is None else _record(row)


def revocations(on_revoked: Callable[[str], None], forget_all: Callable[[], None]) -> Subscription:
    """``on_revoked(short)`` for each key revoked anywhere; ``forget_all()`` when the notices'
    connection is back after a loss (a revocation may have been missed meanwhile)."""
    return Subscription(REVOKED_CHANNEL, on_revoked, resync=forget_all)
