"""The simulator's season as feed messages, so the demo feed goes through the same intake."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from uuid import UUID

from commands.fixture import (
    EndPeriod,
    FinishFixture,
    RecordCard,
    RecordGoal,
    ScheduleFixture,
    StartFixture,
)
from commands.ingestion import FeedCommand
from commands.odds import RecordOdds
from domain.fixture_id import fixture_id
from domain.in_match import CardKind
from domain.odds import MarginMethod, Market, PriceFormat, QuoteStage
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Side, Sport
from infra.feeds.messages import FeedMessage
from infra.feeds.simulator import SeasonSimulator, SimEvent


def simulated_messages(simulator: SeasonSimulator) -> Iterator[FeedMessage]:
    for n, event in enumerate(simulator.events()):
        f = event.fixture
        fid = fixture_id(Sport.FOOTBALL, f.competition, f.kickoff, f.home, f.away)
        raw = json.dumps(
            {
                "kind": event.kind,
                "fixture": f.fixture_key,
                "at": event.at.isoformat(),
                **event.data,
            },
            sort_keys=True,
        ).encode()
        yield FeedMessage(
            at=event.at,
            partition=str(fid),
            kind="odds" if event.kind == "odds_quoted" else "match-event",
            key=f"sim:{f.fixture_key}:{event.kind}:{n}",
            raw=raw,
            origin=f"simulator:{n}",
            build=_builder(event, fid),
        )


def _builder(event: SimEvent, fid: UUID) -> Callable[[str, Provenance], FeedCommand]:
    f, data = event.fixture, event.data

    def build(key: str, p: Provenance) -> FeedCommand:
        side = Side.HOME if data.get("team") == f.home else Side.AWAY
        match event.kind:
            case "fixture_scheduled":
                return ScheduleFixture(
                    idempotency_key=key,
                    provenance=p,
                    sport=Sport.FOOTBALL,
                    competition=f.competition,
                    season=f.season,
                    home=f.home,
                    away=f.away,
                    kickoff=f.kickoff,
                )
            case "odds_quoted":
                prices = [str(x) for x in data["prices"]]  # type: ignore[attr-defined]
                return RecordOdds(
                    idempotency_key=key,
                    provenance=p,
                    fixture_id=fid,
                    source="sim-book",
                    market=Market.MATCH_RESULT,
                    prices=dict(zip(Market.MATCH_RESULT.outcomes, prices, strict=True)),
                    price_format=PriceFormat.DECIMAL,
                    margin_method=MarginMethod.SHIN,
                    quoted_at=event.at,
                    stage=QuoteStage.CLOSING if data.get("closing") else None,
                )
            case "started":
                return StartFixture(
                    idempotency_key=key, provenance=p, fixture_id=fid, started_at=event.at
                )
            case "goal":
                return RecordGoal(
                    idempotency_key=key,
                    provenance=p,
                    fixture_id=fid,
                    side=side,
                    minute=int(str(data["minute"])),
                    penalty=bool(data.get("penalty")),
                )
            case "card":
                card = CardKind.RED if data.get("card") == "red" else CardKind.YELLOW
                return RecordCard(
                    idempotency_key=key,
                    provenance=p,
                    fixture_id=fid,
                    card=card,
                    side=side,
                    minute=int(str(data["minute"])),
                )
            case "period_ended":
                score = Score(int(str(data["home"])), int(str(data["away"])))
                return EndPeriod(
                    idempotency_key=key, provenance=p, fixture_id=fid, period=1, score=score
                )
            case "finished":
                score = Score(int(str(data["home"])), int(str(data["away"])))
                return FinishFixture(idempotency_key=key, provenance=p, fixture_id=fid, score=score)
        raise ValueError(f"unknown simulated event kind {event.kind!r}")

    return build
