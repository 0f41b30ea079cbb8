"""``sportcast keys``: create, list and revoke API keys (stored hashed in PostgreSQL).

A key is shown once, when it is created; the store keeps only its short id and a SHA-256 of its
secret part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import asyncpg
import typer
from rich.markup import escape
from rich.table import Column, Table

from commands.api_keys import KeyRecord
from domain.access import Limits, Plan, PlanError, Scope, parse_scopes
from infra.access.keystore import PostgresKeyStore, ensure_schema
from infra.cli_console import console, print_json
from infra.settings import Settings

app = typer.Typer(help="API keys: create, list and revoke.", no_args_is_help=True)
out = console()
err = console(stderr=True)
T = TypeVar("T")


def _fail(code: str, message: str) -> typer.Exit:
    err.print(f"[bold red]error[/] {escape(f'[{code}]')} {escape(message)}")
    return typer.Exit(2)


def _with_store(work: Callable[[PostgresKeyStore], Awaitable[T]]) -> T:
    url = Settings().postgres_client_url

    async def run() -> T:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        assert pool is not None
        try:
            await ensure_schema(pool)
            return await work(PostgresKeyStore(pool))
        finally:
            await pool.close()

    try:
        return asyncio.run(run())
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise _fail(
            "postgres-unreachable",
            f"cannot use PostgreSQL ({exc}); start `sportcast up` or set SPORTCAST_POSTGRES_URL",
        ) from None


@app.command()
def create(
    name: Annotated[str, typer.Option(help="Who or what the key is for (shown in `keys list`).")],
    scope: Annotated[
        list[str],
        typer.Option(help="A scope: feed:write, forecasts:read, audit:read or admin. Repeatable."),
    ],
    plan: Annotated[
        list[str] | None,
        typer.Option(
            help="What the key may see: '*', a sport ('football') or one competition "
            "('football/E0'). Repeatable. Default: nothing."
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(help="The feed provider a feed:write key posts as (required with it)."),
    ] = None,
    rate: Annotated[int, typer.Option(min=1, help="Requests per minute.")] = 600,
    connections: Annotated[int, typer.Option(min=0, help="Open streams at once.")] = 10,
) -> None:
    """Create a key and print it once: store it now, it cannot be shown again."""
    try:
        scopes = parse_scopes(scope)
        entitlement = Plan.parse(plan or [])
    except PlanError as exc:
        raise _fail("invalid-key-spec", str(exc)) from None
    if Scope.FEED_WRITE in scopes and not provider:
        raise _fail("invalid-key-spec", "a feed:write key needs --provider")

    async def work(store: PostgresKeyStore) -> tuple[str, KeyRecord]:
        new, rec = await store.create(
            name=name,
            scopes=scopes,
            plan=entitlement,
            limits=Limits(requests_per_minute=rate, connections=connections),
            provider=provider,
        )
        return new.token, rec

    token, record = _with_store(work)
    err.print(f"created key {record.short} ({escape(name)}); it is shown once, store it now:")
    print(token)


@app.command("list")
def list_keys(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document: every key's record.")
    ] = False,
) -> None:
    """The keys in the store (their short ids; the secrets are not kept)."""
    records = _with_store(lambda store: store.list(include_revoked=all_))
    if as_json:
        print_json([_record(r) for r in records])
        return
    table = Table(
        Column("key", no_wrap=True),
        *("name", "scopes", "plan", "provider", "rate/min", "streams", "created", "revoked"),
    )
    for r in records:
        table.add_row(
            r.short,
            escape(r.name),
            " ".join(sorted(s.value for s in r.scopes)),
            escape(" ".join(r.plan.entries()) or "-"),
            escape(r.provider or "-"),
            str(r.limits.requests_per_minute),
            str(r.limits.connections),
            f"{r.created_at:%Y-%m-%d %H:%M}",
            f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "-",
        )
    out.print(table)


def _record(r: KeyRecord) -> dict[str, object]:
    return {
        "key": r.short,
        "name": r.name,
        "scopes": sorted(s.value for s in r.scopes),
        "plan": r.plan.entries(),
        "provider": r.provider,
        "requests_per_minute": r.limits.requests_per_minute,
        "connections": r.limits.connections,
        "created_at": r.created_at.isoformat(),
        "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
    }


@app.command()
def revoke(
    key: Annotated[str, typer.Argument(help="The key's short id (from `keys list`) or the key.")],
) -> None:
    """Revoke a key: every gateway refuses it from now on (cached copies are dropped at once)."""
    short = key.split("_")[1] if key.startswith("sc_") and key.count("_") == 2 else key
    record = _with_store(lambda store: store.revoke(short))
    if record is None:
        raise _fail("key-not-found", f"no key {short!r}")
    err.print(f"revoked key {record.short} ({escape(record.name)}) at {record.revoked_at}")
