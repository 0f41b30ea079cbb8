"""A command receipt: proof that an idempotency key was acted on, and what it produced.

The receipt is an aggregate whose id is derived from the key, saved in the same atomic save as
the command's events. A second command with the same key tries to create the same receipt at
version 1 again, which the event store refuses like any concurrent write, so a key is honoured
once, forever, without a separate idempotency table or a time window.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from domain.fixture_id import name_based_id

# Fixed forever: changing it would forget every receipt.
RECEIPT_NAMESPACE = UUID("5d0c3b8e-7c1f-5b7a-9a51-0c6f3f1f2a10")


def receipt_id(idempotency_key: str) -> UUID:
    """``uuid5(RECEIPT_NAMESPACE, idempotency_key)``."""
    return name_based_id(RECEIPT_NAMESPACE, idempotency_key)


class CommandReceipt(Aggregate):
    class Issued(Aggregate.Created):
        """Version 2 adds ``payload_digest``; version 1 receipts, stored before it, read with
        None (their key is honoured as before, without the reuse check)."""

        class_version = 2

        idempotency_key: str
        command: str
        aggregate_id: UUID
        from_version: int
        to_version: int
        payload_digest: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["payload_digest"] = None

    @staticmethod
    def create_id(idempotency_key: str) -> UUID:
        return receipt_id(idempotency_key)

    @event(Issued)
    def __init__(
        self,
        *,
        idempotency_key: str,
        command: str,
        aggregate_id: UUID,
        from_version: int,
        to_version: int,
        payload_digest: str | None = None,
    ) -> None:
        self.idempotency_key = idempotency_key
        self.command = command
        self.aggregate_id = aggregate_id
        self.from_version = from_version
        self.to_version = to_version
        self.payload_digest = payload_digest


def issue_receipt(
    idempotency_key: str,
    command: str,
    aggregate_id: UUID,
    from_version: int,
    to_version: int,
    payload_digest: str | None = None,
) -> CommandReceipt.Issued:
    """The event that creates a receipt, without building the aggregate around it.

    Saving a command makes one receipt per command and never reads it back: creating the
    aggregate (eventsourcing's decorator machinery, a fifth of a replay's decide time) only to
    collect this one event would be waste. ``CommandReceipt(...)`` gives the same event.
    """
    # eventsourcing turns event classes into dataclasses at runtime; mypy sees no fields.
    return CommandReceipt.Issued(  # type: ignore[call-arg]
        originator_id=receipt_id(idempotency_key),
        originator_version=1,
        timestamp=CommandReceipt.Issued.create_timestamp(),
        originator_topic=_RECEIPT_TOPIC,
        idempotency_key=idempotency_key,
        command=command,
        aggregate_id=aggregate_id,
        from_version=from_version,
        to_version=to_version,
        payload_digest=payload_digest,
    )


_RECEIPT_TOPIC = get_topic(CommandReceipt)
