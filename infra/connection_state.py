"""nats-py callbacks that log a connection's state once per change, not once per attempt.

nats-py's default error callback logs every failed reconnect attempt with its traceback: with
the server down and a reconnect every 0.1-0.5 s that grew a log by 49 MB in 13 minutes. Here a
connection logs one line when it is lost, one when it is back, and an error only when it differs
from the previous one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import nats.errors
from nats.aio.client import Client as NATS

if TYPE_CHECKING:  # infra.eventstore imports this module: no import back at run time
    from infra.eventstore.denials import Denials

log = logging.getLogger("sportcast.nats")


def refused_credentials(exc: BaseException) -> bool:
    """The server refused who we are (at connect, the server's -ERR reaches nats-py's error
    callback as a plain ``nats.errors.Error``)."""
    text = str(exc).lower()
    return isinstance(exc, nats.errors.AuthorizationError) or "authorization violation" in text


class ConnectionState:
    """Errors before the first connection are not logged: whoever connects reports a failure
    to connect, in one line (``sportcast feed quarantine list`` without a stack)."""

    def __init__(self, name: str, denials: Denials | None = None) -> None:
        self.name = name
        self.denials = denials  # permission violations: logged there, once, with their code
        self.ever_connected = False
        self.connected = False
        self._last_error = ""
        self._nc: NATS | None = None

    def first_connected(self, nc: NATS) -> None:
        self._nc = nc
        self.ever_connected = self.connected = True

    async def disconnected(self) -> None:
        if self._nc is not None and (self._nc.is_closed or self._nc.is_draining):
            self.connected = False  # closed on purpose: nothing to report
            return
        if self.connected:
            self.connected = False
            log.warning("%s lost its NATS connection; reconnecting", self.name)

    async def reconnected(self) -> None:
        if not self.connected:
            log.warning("%s reconnected to NATS", self.name)
        self.connected = True
        self._last_error = ""

    async def error(self, exc: Exception) -> None:
        if not self.ever_connected and refused_credentials(exc):
            # nats-py retries a first connection forever when reconnecting is allowed; a server
            # that refuses the credentials will not change its mind: fail now, saying why.
            raise exc
        if self.denials is not None and self.denials.note(exc) is not None:
            return
        # While disconnected every reconnect attempt fails: the "lost" line said so already.
        text = f"{type(exc).__name__}: {exc}"
        if self.connected and text != self._last_error:
            self._last_error = text
            log.warning("%s NATS error: %s", self.name, text)

    def callbacks(self) -> dict[str, Callable[..., Awaitable[Any]]]:
        """Keyword arguments for ``nats.connect``."""
        return {
            "disconnected_cb": self.disconnected,
            "reconnected_cb": self.reconnected,
            "error_cb": self.error,
        }
