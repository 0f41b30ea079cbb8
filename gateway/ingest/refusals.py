"""How ingest says no: one problem type per reason, each with its stable code."""

from __future__ import annotations

from typing import Any

from domain.errors import DomainError, NotPermitted
from gateway.problems import Problem

RETRY_AFTER_SECONDS = 2


class InvalidPayload(Problem):
    status = 422
    code = "validation-error"
    title = "The payload failed validation"


class MissingIdempotencyKey(Problem):
    status = 400
    code = "idempotency-key-required"
    title = "An idempotency key is required"


class BookmakerNotAllowed(Problem):
    status = 403
    code = "bookmaker-not-allowed"
    title = "The provider may not quote for this bookmaker"


class StoreUnavailable(Problem):
    """Answered at once while the event store cannot be reached; nothing was written."""

    status = 503
    code = "store-unavailable"
    title = "The event store is unreachable"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, **extensions)


class AggregateDamaged(Problem):
    """The stored history of what the message is about does not read back whole."""

    status = 500
    code = "aggregate-damaged"
    title = "The stored history of this fixture is damaged"


class IngestFailed(Problem):
    """Nothing a feed should be able to cause: a bug, kept with the payload to reproduce it."""

    status = 500
    code = "internal-error"
    title = "The payload could not be processed"


class Refused(Problem):
    """The domain refused the command; ``code`` is the DomainError's own stable code.
    403 when the sender may not make the change, 422 otherwise."""

    title = "The feed message was refused"

    def __init__(self, error: DomainError, **extensions: Any) -> None:
        super().__init__(str(error), **extensions)
        self.code = error.code
        self.status = 403 if isinstance(error, NotPermitted) else 422
