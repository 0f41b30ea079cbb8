"""One fixture's story from the log: feed events, odds moves, forecasts, the result, settlement.

Read straight from the stored messages (positions are stream sequences), not from read models,
so the timeline is evidence of what the log holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
from nats.aio.client import Client as NATS

from domain.fixture import Fixture
from domain.forecast import FixtureForecasts, forecasts_id
from domain.odds_book import OddsBook
from domain.score import Score
from forecasting.metrics import brier_score, log_loss, ranked_probability_score
from infra.audit.errors import UnknownFixture
from infra.audit.log import Progress, decode, domain_mapper, is_event, pages
from infra.eventstore.subjects import SubjectLayout


@dataclass(frozen=True)
class Entry:
    stream: str
    position: int
    at: datetime | None
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "position": self.position,
            "at": self.at.isoformat() if self.at else None,
            "kind": self.kind,
            **self.detail,
        }


@dataclass(frozen=True)
class Timeline:
    fixture_id: UUID
    title: str
    entries: list[Entry]


async def fixture_timeline(
    nc: NATS,
    fixture_id: UUID,
    *,
    events_stream: str,
    forecasts_stream: str,
    on_page: Progress | None = None,
) -> Timeline:
    mapper = domain_mapper()
    layout = SubjectLayout(events_stream)
    fixture_subject = layout.aggregate(fixture_id)
    marker = fixture_id.hex.encode()
    books: set[str] = set()
    entries: list[Entry] = []
    title = ""
    async for page in pages(nc, events_stream, subject=layout.events, on_page=on_page):
        for record in page:
            if not is_event(record):
                continue
            subject = record.subject
            if subject != fixture_subject and subject not in books:
                if marker not in record.data:
                    continue
                event = decode(mapper, layout, record)
                if not (isinstance(event, OddsBook.Opened) and event.fixture_id == fixture_id):
                    continue
                books.add(subject)
            else:
                event = decode(mapper, layout, record)
            if isinstance(event, Fixture.Scheduled):
                title = f"{event.home} v {event.away}, {event.competition} {event.season}"
            entries.append(Entry(events_stream, record.seq, event.timestamp, *_describe(event)))
    if not entries:
        raise UnknownFixture(f"the log holds no event of fixture {fixture_id}")
    forecast_layout = SubjectLayout(forecasts_stream)
    subject = forecast_layout.aggregate(forecasts_id(fixture_id))
    async for page in pages(nc, forecasts_stream, subject=subject, on_page=on_page):
        for record in page:
            if is_event(record):
                event = decode(mapper, forecast_layout, record)
                entries.append(
                    Entry(forecasts_stream, record.seq, event.timestamp, *_describe(event))
                )
    entries.sort(key=lambda e: (e.at is None, e.at, e.stream, e.position))
    return Timeline(fixture_id, title, [*entries, *_settlements(entries)])


def _describe(event: Any) -> tuple[str, dict[str, Any]]:
    kind = type(event).__qualname__
    if isinstance(event, FixtureForecasts.ForecastIssued):
        return "forecast", {
            "trigger": event.trigger,
            "model_id": event.model_id,
            "artifact_hash": event.artifact_hash,
            "market": event.market,
            "outcomes": list(event.outcomes),
            "probabilities": list(event.probabilities),
            "market_probabilities": list(event.market_probabilities),
            "edge": list(event.edge),
            "prior": event.prior,
            "as_of_position": event.as_of_position,
        }
    if isinstance(event, OddsBook.Opened):
        return "odds-book-opened", {"source": event.source, "market": str(event.market)}
    if isinstance(event, OddsBook.OddsQuoted):
        return "odds", {
            "stage": str(event.stage) if event.stage else None,
            "prices": list(event.decimal_prices),
            "probabilities": list(event.probabilities),
            "margin_method": str(event.margin_method),
        }
    detail = {
        k: _plain(v)
        for k, v in vars(event).items()
        if k not in {"originator_id", "originator_version", "timestamp", "provenance"}
    }
    provenance = getattr(event, "provenance", None)
    if provenance is not None:
        detail["source"] = provenance.source
    return kind, detail


def _plain(value: Any) -> Any:
    if isinstance(value, Score):
        return f"{value.home}-{value.away}"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _settlements(entries: list[Entry]) -> list[Entry]:
    """Each forecast scored against the final result (the last Finished or ResultCorrected)."""
    results = [e for e in entries if e.kind in ("Fixture.Finished", "Fixture.ResultCorrected")]
    if not results:
        return []
    final = results[-1]
    home, away = (int(x) for x in str(final.detail["score"]).split("-"))
    settled = []
    for entry in entries:
        if entry.kind != "forecast":
            continue
        outcome = _outcome_index(entry.detail["outcomes"], home, away)
        if outcome is None:
            continue
        p = np.array([entry.detail["probabilities"]], dtype=np.float64)
        market = entry.detail["market_probabilities"]  # empty for a market-free forecast
        m = np.array([market], dtype=np.float64) if market else None
        o = np.array([outcome], dtype=np.int64)
        settled.append(
            Entry(
                entry.stream,
                entry.position,
                final.at,
                "settlement",
                {
                    "result": f"{home}-{away}",
                    "rps": ranked_probability_score(p, o),
                    "log_loss": log_loss(p, o),
                    "brier": brier_score(p, o),
                    "market_rps": None if m is None else ranked_probability_score(m, o),
                },
            )
        )
    return settled


def _outcome_index(outcomes: list[str], home: int, away: int) -> int | None:
    if len(outcomes) == 3:  # home, draw, away
        return 0 if home > away else 1 if home == away else 2
    if len(outcomes) == 2 and home != away:  # home, away
        return 0 if home > away else 1
    return None
