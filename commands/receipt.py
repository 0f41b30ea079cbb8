"""A command receipt: proof that an idempotency key was acted on, and what it produced.

The receipt is an aggregate whose id is derived from the key, saved in the same atomic save as
the command's events. A second command with the same key tries to create the same receipt at
version 1 again, which the event store refuses like any concurrent write, so a key is honoured
once, forever, without a separate idempotency table or a time window.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

# Fixed forever: changing it would forget every receipt.
RECEIPT_NAMESPACE = UUID("5d0c3b8e-7c1f-5b7a-9a51-0c6f3f1f2a10")


def receipt_id(idempotency_key: str) -> UUID:
    return uuid5(RECEIPT_NAMESPACE, idempotency_key)


class CommandReceipt(Aggregate):
    class Issued(Aggregate.Created):
        idempotency_key: str
        command: str
        aggregate_id: UUID
        from_version: int
        to_version: int

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
    ) -> None:
        self.idempotency_key = idempotency_key
        self.command = command
        self.aggregate_id = aggregate_id
        self.from_version = from_version
        self.to_version = to_version
