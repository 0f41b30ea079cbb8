"""Forecast read models: every forecast issued, and the latest per fixture and model kind."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from domain.forecast import FixtureForecasts
from domain.model_registry import FOOTBALL_1X2, FOOTBALL_INPLAY, KINDS, NBA
from domain.odds import Market
from projections.postgres import PostgresProjection
from projections.stored import moment, state_of, uuid
from readmodels.postgres import bulk

FORECASTS = "forecasts"
ISSUED = (
    get_topic(FixtureForecasts.ForecastIssued),
    get_topic(FixtureForecasts.FirstForecastIssued),
)
COLUMNS = (
    "position",
    "fixture_id",
    "version",
    "model_kind",
    "issued_at",
    "kickoff",
    "trigger",
    "model_id",
    "artifact_hash",
    "market",
    "outcomes",
    "probabilities",
    "market_probabilities",
    "edge",
    "as_of_position",
)
# Longest first: "football-inplay" before "football-1x2".
_PREFIXES = tuple((kind + "-", kind) for kind in sorted(KINDS, key=len, reverse=True))
_ANY_PREFIX = tuple(prefix for prefix, _ in _PREFIXES)


def model_kind(model_id: str, market: str, features: dict[str, Any]) -> str:
    """The registry kind a forecast's model belongs to: its id's prefix when it has one (ids
    of registered models are ``<kind>-<hash>``), else what the forecast itself shows."""
    if model_id.startswith(_ANY_PREFIX):
        for prefix, kind in _PREFIXES:
            if model_id.startswith(prefix):
                return kind
    if market == Market.MONEYLINE:
        return NBA
    return FOOTBALL_INPLAY if "minute" in features else FOOTBALL_1X2


def forecast_record(n: Notification) -> tuple[tuple[Any, ...], str]:
    """One forecast as the columns of ``COLUMNS``, and its feature vector as JSON text."""
    s = state_of(n.state)
    return forecast_values(n, s), orjson.dumps(s.get("features") or {}).decode()


def forecast_values(n: Notification, s: dict[str, Any]) -> tuple[Any, ...]:
    """One forecast (``s``: its event's state) as the columns of ``COLUMNS``."""
    return (
        n.id,
        uuid(s["fixture_id"]),
        n.originator_version,
        model_kind(s["model_id"], s["market"], s.get("features") or {}),
        moment(s["timestamp"]),
        moment(s["kickoff"]),
        s["trigger"],
        s["model_id"],
        s["artifact_hash"],
        s["market"],
        [str(o) for o in s["outcomes"]],
        [float(p) for p in s["probabilities"]],
        [float(p) for p in s["market_probabilities"]],
        [float(p) for p in s["edge"]],
        int(s["as_of_position"]),
    )


class ForecastsProjection(PostgresProjection):
    name = "forecasts"
    topics = {FORECASTS: ISSUED}

    async def write(
        self, conn: asyncpg.Connection, stream: str, notifications: Sequence[Notification]
    ) -> set[str]:
        """Returns the fixtures whose forecasts were written."""
        recorded = [forecast_record(n) for n in notifications]
        rows = [values for values, _ in recorded]
        await bulk.append(
            conn,
            self.schema,
            "forecasts",
            (*COLUMNS, "features"),
            ((*values, features) for values, features in recorded),
        )
        latest = {(r[1], r[3]): r for r in rows}  # in log order: the last one wins
        latest_columns = (
            "fixture_id",
            "model_kind",
            *(c for c in COLUMNS if c not in ("fixture_id", "model_kind")),
        )
        await bulk.upsert(
            conn,
            self.schema,
            "latest_forecasts",
            latest_columns,
            ("fixture_id", "model_kind"),
            ((r[1], r[3], r[0], *r[2:3], *r[4:]) for r in latest.values()),
            only_if="t.position < EXCLUDED.position",
        )
        return {str(fixture) for fixture, _ in latest}
