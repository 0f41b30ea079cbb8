"""A process's NATS identity (TLS and credentials), given once by the composition root.

Kept apart from ``infra.connections`` so that the command line can name it at start-up without
importing the NATS and PostgreSQL clients (docs/adr/0039): ``use_nats_security`` also takes a
function, called on the first ``process_nats_security()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra.eventstore.security import NatsSecurity

_given: NatsSecurity | Callable[[], NatsSecurity] | None = None


def use_nats_security(security: NatsSecurity | Callable[[], NatsSecurity]) -> None:
    """The TLS and credentials of this process's NATS connections (composition root only):
    the security itself, or how to make it when a connection first needs it."""
    global _given
    _given = security


def process_nats_security() -> NatsSecurity:
    """What :func:`use_nats_security` was given (plain and anonymous until then)."""
    global _given
    if _given is None:
        from infra.eventstore.security import NatsSecurity

        _given = NatsSecurity()
    elif callable(_given):
        _given = _given()
    return _given
