"""Settled forecasts and the track record: every forecast is scored once its fixture has a
result, and scored again when the result is corrected.

Follows two streams: the feed (fixtures' competition and season, results) and the forecasts.
Whichever arrives second does the scoring: a forecast whose fixture already has a result is
scored as it is stored; a result scores every stored forecast of its fixture. The rows are
therefore the same whatever the interleaving of the two streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from domain.fixture import Fixture
from projections.forecasts import ISSUED, model_kind
from projections.postgres import PostgresProjection
from projections.scoring import Scores, Unscored, score_all, track_of
from projections.stored import as_uuid, score, state_of, uuid
from readmodels.postgres import bulk
from readmodels.postgres.schemas import quoted

EVENTS = "events"
FORECASTS = "forecasts"
SCHEDULED = get_topic(Fixture.Scheduled)
FINISHED = get_topic(Fixture.Finished)
CORRECTED = get_topic(Fixture.ResultCorrected)
FORECAST_COLUMNS = (
    "position",
    "fixture_id",
    "model_kind",
    "model_id",
    "trigger",
    "track",
    "outcomes",
    "probabilities",
    "market_probabilities",
)
SCORE_COLUMNS = (
    "outcome",
    "rps",
    "log_loss",
    "brier",
    "market_rps",
    "market_log_loss",
    "market_brier",
    "result_position",
)


def _score_values(scores: Scores | None, result_position: int | None) -> tuple[Any, ...]:
    if scores is None:
        return (None,) * 7 + (result_position,)
    return (
        scores.outcome,
        scores.rps,
        scores.log_loss,
        scores.brier,
        scores.market_rps,
        scores.market_log_loss,
        scores.market_brier,
        result_position,
    )


class TrackRecordProjection(PostgresProjection):
    name = "track_record"
    topics = {EVENTS: (SCHEDULED, FINISHED, CORRECTED), FORECASTS: ISSUED}

    async def write(
        self, conn: asyncpg.Connection, stream: str, notifications: Sequence[Notification]
    ) -> None:
        if stream == FORECASTS:
            await self._forecasts(conn, notifications)
        else:
            await self._feed(conn, notifications)

    async def _feed(self, conn: asyncpg.Connection, notifications: Sequence[Notification]) -> None:
        fixtures: list[tuple[Any, ...]] = []
        results: dict[UUID, list[Any]] = {}
        for n in notifications:
            fixture_id = as_uuid(n.originator_id)
            s = state_of(n.state)
            if n.topic == SCHEDULED:
                fixtures.append((fixture_id, s["sport"], s["competition"], s["season"]))
                continue
            home, away = score(s["score"])
            before = results.get(fixture_id)
            corrections = (before[3] if before else 0) + (n.topic == CORRECTED)
            results[fixture_id] = [fixture_id, home, away, corrections, n.id]
        cols = ("fixture_id", "sport", "competition", "season")
        await bulk.append(conn, self.schema, "fixtures", cols, fixtures)
        if not results:
            return
        temp = await bulk.staged(
            conn,
            self.schema,
            "results",
            ("fixture_id", "home", "away", "corrections", "position"),
            results.values(),
        )
        await conn.execute(
            f"INSERT INTO {quoted(self.schema)}.results AS t"
            " (fixture_id, home, away, corrections, position)"
            f" SELECT fixture_id, home, away, corrections, position FROM {temp}"
            " ON CONFLICT (fixture_id) DO UPDATE SET home = EXCLUDED.home, away = EXCLUDED.away,"
            " corrections = t.corrections + EXCLUDED.corrections, position = EXCLUDED.position"
        )
        await conn.execute(f"DELETE FROM {temp}")
        stored = await conn.fetch(
            "SELECT position, fixture_id, outcomes, probabilities, market_probabilities"
            f" FROM {quoted(self.schema)}.settled_forecasts WHERE fixture_id = ANY($1::uuid[])",
            list(results),
        )
        await self._rescore(conn, stored, results)

    async def _rescore(
        self,
        conn: asyncpg.Connection,
        stored: Sequence[asyncpg.Record],
        results: dict[UUID, list[Any]],
    ) -> None:
        if not stored:
            return
        forecasts = [
            Unscored(r["outcomes"], r["probabilities"], r["market_probabilities"]) for r in stored
        ]
        against = [(results[r["fixture_id"]][1], results[r["fixture_id"]][2]) for r in stored]
        scored = score_all(forecasts, against)
        rows = [
            (r["position"], *_score_values(s, results[r["fixture_id"]][4]))
            for r, s in zip(stored, scored, strict=True)
        ]
        temp = await bulk.staged(
            conn, self.schema, "settled_forecasts", ("position", *SCORE_COLUMNS), rows
        )
        sets = ", ".join(f"{c} = s.{c}" for c in SCORE_COLUMNS)
        await conn.execute(
            f"UPDATE {quoted(self.schema)}.settled_forecasts AS t SET {sets}"
            f" FROM {temp} AS s WHERE t.position = s.position"
        )
        await conn.execute(f"DELETE FROM {temp}")

    async def _forecasts(
        self, conn: asyncpg.Connection, notifications: Sequence[Notification]
    ) -> None:
        rows: list[tuple[Any, ...]] = []
        for n in notifications:
            s = state_of(n.state)
            rows.append(
                (
                    n.id,
                    uuid(s["fixture_id"]),
                    model_kind(s["model_id"], s["market"], s.get("features") or {}),
                    s["model_id"],
                    s["trigger"],
                    track_of(s["trigger"]),
                    [str(o) for o in s["outcomes"]],
                    [float(p) for p in s["probabilities"]],
                    [float(p) for p in s["market_probabilities"]],
                )
            )
        known = await conn.fetch(
            f"SELECT fixture_id, home, away, position FROM {quoted(self.schema)}.results"
            " WHERE fixture_id = ANY($1::uuid[])",
            list({r[1] for r in rows}),
        )
        results = {r["fixture_id"]: (r["home"], r["away"], r["position"]) for r in known}
        settled = [r for r in rows if r[1] in results]
        scored = score_all(
            [Unscored(r[6], r[7], r[8]) for r in settled],
            [results[r[1]][:2] for r in settled],
        )
        scores = {
            r[0]: _score_values(s, results[r[1]][2]) for r, s in zip(settled, scored, strict=True)
        }
        blank = _score_values(None, None)
        await bulk.append(
            conn,
            self.schema,
            "settled_forecasts",
            (*FORECAST_COLUMNS, *SCORE_COLUMNS),
            ((*r, *scores.get(r[0], blank)) for r in rows),
        )
