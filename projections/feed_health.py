"""Feed health read model: the newest quote per competition and source (staleness is the time
since), and each episode of a fixture close to kick-off going without odds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from domain.feed_health import FeedBoard, OddsWatch
from projections.postgres import PostgresProjection
from projections.stored import moment, optional_moment, state_of, uuid
from readmodels.postgres import bulk

FEED_HEALTH = "feed_health"
QUOTE_SEEN = get_topic(FeedBoard.QuoteSeen)
WENT_STALE = get_topic(OddsWatch.OddsWentStale)


class FeedHealthProjection(PostgresProjection):
    name = "feed_health"
    topics = {FEED_HEALTH: (QUOTE_SEEN, WENT_STALE)}

    async def write(
        self, conn: asyncpg.Connection, stream: str, notifications: Sequence[Notification]
    ) -> None:
        pulses: dict[tuple[str, str], tuple[str, str, datetime, int]] = {}
        episodes: list[tuple[Any, ...]] = []
        for n in notifications:
            s = state_of(n.state)
            if n.topic == QUOTE_SEEN:
                key = (s["competition"], s["source"])
                pulses[key] = (*key, moment(s["quoted_at"]), n.id)
            else:
                episodes.append(
                    (
                        n.id,
                        uuid(s["fixture_id"]),
                        s["competition"],
                        moment(s["kickoff"]),
                        optional_moment(s.get("last_quote_at")),
                        moment(s["checked_at"]),
                        float(s["stale_after_seconds"]),
                    )
                )
        await bulk.upsert(
            conn,
            self.schema,
            "pulses",
            ("competition", "source", "last_quote_at", "position"),
            ("competition", "source"),
            pulses.values(),
        )
        await bulk.append(
            conn,
            self.schema,
            "stale_episodes",
            (
                "position",
                "fixture_id",
                "competition",
                "kickoff",
                "last_quote_at",
                "checked_at",
                "stale_after_seconds",
            ),
            episodes,
        )
