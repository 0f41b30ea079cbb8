"""Odds read models: the latest quote per odds book (fixture, market, source) with its decimal
prices, margin-free probabilities and margin method, and every quote in the history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from domain.odds_book import OddsBook
from projections.postgres import PostgresProjection
from projections.stored import as_uuid, moment, state_of, uuid
from readmodels.postgres import bulk
from readmodels.postgres.schemas import quoted

EVENTS = "events"
OPENED = get_topic(OddsBook.Opened)
QUOTED = get_topic(OddsBook.OddsQuoted)
BOOK_COLUMNS = ("book_id", "fixture_id", "market", "source", "quotes", "position")
QUOTE_COLUMNS = (
    "quoted_at",
    "stage",
    "price_format",
    "raw_prices",
    "decimal_prices",
    "overround",
    "margin_method",
    "probabilities",
)
HISTORY_COLUMNS = ("position", "book_id", "fixture_id", *QUOTE_COLUMNS)
LATEST_COLUMNS = ("book_id", *QUOTE_COLUMNS, "quotes", "position")
_KNOWN_BOOKS = 1 << 18  # book -> fixture remembered between batches (a fact, never changes)


def quote_values(state: dict[str, Any]) -> tuple[Any, ...]:
    return (
        moment(state["quoted_at"]),
        state.get("stage"),
        state["price_format"],
        [str(p) for p in state["raw_prices"]],
        [float(p) for p in state["decimal_prices"]],
        float(state["overround"]),
        state["margin_method"],
        [float(p) for p in state["probabilities"]],
    )


class OddsProjection(PostgresProjection):
    name = "odds"
    topics = {EVENTS: (OPENED, QUOTED)}

    def __init__(self, postgres_url: str, *, schema: str | None = None, live: bool = True) -> None:
        super().__init__(postgres_url, schema=schema, live=live)
        self._fixture_of: dict[UUID, UUID] = {}

    async def write(
        self, conn: asyncpg.Connection, stream: str, notifications: Sequence[Notification]
    ) -> None:
        opened: list[tuple[Any, ...]] = []
        quotes: list[tuple[UUID, int, tuple[Any, ...]]] = []
        for n in notifications:
            book_id = as_uuid(n.originator_id)
            state = state_of(n.state)
            if n.topic == OPENED:
                fixture_id = uuid(state["fixture_id"])
                self._remember(book_id, fixture_id)
                opened.append((book_id, fixture_id, state["market"], state["source"], 0, n.id))
            else:
                quotes.append((book_id, n.id, quote_values(state)))
        await bulk.append(conn, self.schema, "odds_latest", BOOK_COLUMNS, opened)
        if not quotes:
            return
        fixture_of = await self._fixtures_of(conn, {b for b, _, _ in quotes})
        await bulk.append(
            conn,
            self.schema,
            "odds_history",
            HISTORY_COLUMNS,
            ((position, b, fixture_of[b], *values) for b, position, values in quotes),
        )
        latest: dict[UUID, list[Any]] = {}
        for b, position, values in quotes:
            row = latest.get(b)
            count = 1 if row is None else row[-2] + 1
            latest[b] = [b, *values, count, position]
        if len(latest) <= bulk.FEW:  # a live page: one round trip (bulk.py)
            sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(QUOTE_COLUMNS, start=2))
            last = len(QUOTE_COLUMNS) + 2
            await conn.executemany(
                f"UPDATE {quoted(self.schema)}.odds_latest AS o SET {sets},"
                f" quotes = o.quotes + ${last}, position = ${last + 1} WHERE o.book_id = $1",
                list(latest.values()),
            )
            return
        temp = await bulk.staged(conn, self.schema, "odds_latest", LATEST_COLUMNS, latest.values())
        sets = ", ".join(f"{c} = s.{c}" for c in QUOTE_COLUMNS)
        await conn.execute(
            f"UPDATE {quoted(self.schema)}.odds_latest AS o SET {sets},"
            " quotes = o.quotes + s.quotes, position = s.position"
            f" FROM {temp} AS s WHERE o.book_id = s.book_id"
        )
        await conn.execute(f"DELETE FROM {temp}")

    def _remember(self, book_id: UUID, fixture_id: UUID) -> None:
        if len(self._fixture_of) >= _KNOWN_BOOKS:
            self._fixture_of.clear()
        self._fixture_of[book_id] = fixture_id

    async def _fixtures_of(self, conn: asyncpg.Connection, books: set[UUID]) -> dict[UUID, UUID]:
        known = {b: f for b in books if (f := self._fixture_of.get(b)) is not None}
        unknown = [b for b in books if b not in known]
        if unknown:
            rows = await conn.fetch(
                f"SELECT book_id, fixture_id FROM {quoted(self.schema)}.odds_latest"
                " WHERE book_id = ANY($1::uuid[])",
                unknown,
            )
            for r in rows:
                known[r["book_id"]] = r["fixture_id"]
                self._remember(r["book_id"], r["fixture_id"])
            missing = [b for b in unknown if b not in known]
            if missing:
                raise LookupError(f"quotes for odds books never opened: {missing[:5]}")
        return known
