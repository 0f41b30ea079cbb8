"""Versioned migrations, applied by yoyo-migrations (docs/adr/0014) into one schema at a time.

Each projection's SQL migrations live in ``migrations/<projection>/`` beside the shared
``migrations/tracking/`` (its position table). yoyo keeps its record of what it applied inside
the same schema, so a schema built by a rebuild carries its own migration history with it when
it is switched in. yoyo speaks DB-API (psycopg 3), not asyncpg: callers run this in a thread.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from yoyo import get_backend, read_migrations

from readmodels.postgres.schemas import check_name, quoted

MIGRATIONS = Path(__file__).with_name("migrations")
TRACKING = "tracking"
MIGRATION_LOCK = 0x5C0A57  # pg_advisory_lock key held while any schema migrates


def migration_dirs(projection: str) -> list[str]:
    own = MIGRATIONS / check_name(projection)
    if not own.is_dir():
        raise LookupError(f"no migrations for projection {projection!r} in {MIGRATIONS}")
    dirs = [str(own)]
    if projection != "projector":
        dirs.insert(0, str(MIGRATIONS / TRACKING))
    return dirs


def yoyo_url(postgres_url: str, schema: str) -> str:
    """The asyncpg-style URL as yoyo's psycopg 3 backend takes it, confined to ``schema``."""
    parts = urlsplit(postgres_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
    query.append(("schema", quoted(schema)))
    return urlunsplit(parts._replace(scheme="postgresql+psycopg", query=urlencode(query)))


def apply_migrations(postgres_url: str, projection: str, schema: str) -> list[str]:
    """Create ``schema`` if needed and apply what is missing; the ids applied, in order.

    Migrations of every schema run one at a time (an advisory lock, which PostgreSQL releases
    when its holder dies): projections start together, and ``CREATE SCHEMA IF NOT EXISTS`` is
    not safe against a concurrent one. yoyo's own lock is a table row that a killed process
    leaves behind; under the advisory lock such a row is stale and is removed. yoyo runs a
    migration's statements in one transaction and records it as applied in a second one, so a
    kill between the two leaves it applied but unrecorded, and the next start applies it again:
    every migration is therefore idempotent (``IF NOT EXISTS`` on each table, index and column;
    tests/unit/test_migrations_idempotent.py holds the files to that)."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted(schema)}")
            backend = get_backend(yoyo_url(postgres_url, schema))
            try:
                # Every migrator holds the advisory lock first, so a yoyo lock row found now
                # was left by one that died mid-migration (killed): it locks nothing.
                backend.break_lock()
                migrations = read_migrations(*migration_dirs(projection))
                with backend.lock():
                    todo = backend.to_apply(migrations)
                    backend.apply_migrations(todo)
                return [m.id for m in todo]
            finally:
                backend.connection.close()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
