"""Why a one-shot command could not reach the running stack, as one line with a stable code.

Commands such as `sportcast projections status` connect once, without reconnecting: a stack
that is not running, or one that refuses this command's credentials (the embedded NATS lets
only its per-role NKeys in, found under the stack's data directory), is then one clear error
instead of a reconnect loop or a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import nats.errors

from infra.connections import connect_nats
from infra.eventstore.errors import EventStoreUnavailable
from infra.natsaccess import EMBEDDED_USERS_DIR
from infra.settings import Settings
from projections.log import LogUnavailable

T = TypeVar("T")


class StackUnreachable(Exception):
    """The command cannot use NATS or PostgreSQL; ``code`` is stable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _where_credentials(settings: Settings) -> str:
    security = settings.nats_security()
    if security.credentials != "none":
        seed = f" from {security.nkey_seed_file}" if security.nkey_seed_file else ""
        return f"it presented {security.credentials}{seed}"
    users = settings.state_dir / EMBEDDED_USERS_DIR
    return (
        f"no credentials were found (the embedded stack's keys would be in {users}): give the"
        " data directory `sportcast up` uses (SPORTCAST_STATE_DIR, or its --data-dir), or set"
        " SPORTCAST_NATS_NKEY_SEED_FILE / SPORTCAST_NATS_CREDS_FILE"
    )


def explain_nats(exc: BaseException, settings: Settings) -> StackUnreachable | None:
    """The reason behind a failed NATS connection, or None if ``exc`` is not one."""
    url = settings.nats_client_url
    text = str(exc)
    if isinstance(exc, nats.errors.Error) and "authorization violation" in text.lower():
        return StackUnreachable(
            "nats-credentials-refused",
            f"NATS at {url} refused this command's credentials; {_where_credentials(settings)}",
        )
    unreachable = (
        OSError | TimeoutError | nats.errors.Error | EventStoreUnavailable | LogUnavailable
    )
    if isinstance(exc, unreachable):
        return StackUnreachable(
            "nats-unreachable",
            f"cannot reach NATS at {url} ({type(exc).__name__}: {text}). Start the stack with"
            " `sportcast up`, or set SPORTCAST_NATS_URL",
        )
    return None


def explain_postgres(exc: BaseException) -> StackUnreachable | None:
    """The reason behind a failed PostgreSQL connection, or None if ``exc`` is not one."""
    if isinstance(
        exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
    ):
        return StackUnreachable(
            "postgres-credentials-refused",
            f"PostgreSQL refused this command's credentials ({exc}); the embedded stack keeps"
            " its password in <data dir>/postgres/password: give the data directory `sportcast"
            " up` uses (SPORTCAST_STATE_DIR), or set SPORTCAST_POSTGRES_URL",
        )
    if isinstance(exc, OSError | TimeoutError | asyncpg.PostgresError | asyncpg.InterfaceError):
        return StackUnreachable(
            "postgres-unreachable",
            f"cannot use PostgreSQL ({type(exc).__name__}: {exc}). Start the stack with"
            " `sportcast up`, or set SPORTCAST_POSTGRES_URL",
        )
    return None


def check_nats(settings: Settings) -> None:
    """Connect once and leave: raises StackUnreachable with the reason if NATS is down or
    refuses this process's credentials (before opening clients that reconnect forever)."""

    async def once() -> None:
        try:
            nc = await connect_nats(settings.nats_client_url, name="sportcast-cli", reconnect=False)
        except Exception as exc:
            reason = explain_nats(exc, settings)
            if reason is None:
                raise
            raise reason from exc
        await nc.close()

    asyncio.run(once())


def on_stack(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work``; a stack it cannot reach (down, or refusing the credentials) is raised as
    StackUnreachable with the reason."""

    async def guarded() -> T:
        try:
            return await work()
        except StackUnreachable:
            raise
        except Exception as exc:
            reason = explain_postgres(exc) or explain_nats(exc, settings)
            if reason is None:
                raise
            raise reason from exc

    return asyncio.run(guarded())
