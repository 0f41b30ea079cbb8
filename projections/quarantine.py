"""Quarantine read model: each refused feed payload's source, kind and reason, for counts by
reason. Its log is the quarantine stream's held payloads (headers only; infra adapts them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
from eventsourcing.persistence import Notification

from projections.postgres import PostgresProjection
from projections.stored import state_of
from readmodels.postgres import bulk

QUARANTINE = "quarantine"
HELD = "quarantine.held"
"""The topic infra gives a held payload; its state is JSON of source, kind, reason_code,
received_at (ISO 8601 or empty)."""


def _received(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


class QuarantineProjection(PostgresProjection):
    name = "quarantine"
    topics = {QUARANTINE: (HELD,)}

    async def write(
        self, conn: asyncpg.Connection, stream: str, notifications: Sequence[Notification]
    ) -> None:
        rows = []
        for n in notifications:
            s = state_of(n.state)
            rows.append(
                (n.id, s["source"], s["kind"], s["reason_code"], _received(s.get("received_at")))
            )
        await bulk.append(
            conn,
            self.schema,
            "held",
            ("seq", "source", "kind", "reason_code", "received_at"),
            rows,
        )
