"""Event store errors: eventsourcing's PEP 249 classes, each with a stable ``code``."""

from __future__ import annotations

from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
)


class ConcurrencyConflict(IntegrityError):
    """Another writer already appended at this position of the aggregate."""

    code = "concurrency-conflict"


class DuplicateEventInSave(IntegrityError):
    """One save holds two events for the same aggregate version."""

    code = "duplicate-event-in-save"


class TrackingConflict(IntegrityError):
    """The upstream notification was already processed (or a later one was)."""

    code = "tracking-conflict"


class EventTooLarge(DataError):
    """An event does not fit in one NATS message; nothing of the save was written."""

    code = "event-too-large"


class SaveTooLarge(DataError):
    """A save holds more events than one atomic batch may carry."""

    code = "save-too-large"


class EventsOutOfOrder(DataError):
    """Events of one aggregate in one save must come in ascending version order."""

    code = "events-out-of-order"


class LineBreakInHeader(DataError):
    """A topic or application name holds a line break, which a NATS header cannot carry."""

    code = "line-break-in-header"


class EventStoreUnavailable(OperationalError):
    """NATS did not answer in time; a save was stored entirely or not at all."""

    code = "event-store-unavailable"


class StreamMisconfigured(ProgrammingError):
    """The stream exists but lacks a guarantee the event store relies on."""

    code = "stream-misconfigured"


class NatsPermissionDenied(OperationalError):
    """This process's NATS user may not publish or subscribe there (docs/adr/0011)."""

    code = "nats-permission-denied"

    def __init__(self, action: str, subject: str) -> None:
        super().__init__(
            f"[{self.code}] this NATS user may not {action} to {subject!r}; "
            "each service's user is limited to its own subjects (infra/natsaccess.py)"
        )
        self.action = action
        self.subject = subject
