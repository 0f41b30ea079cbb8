"""Decoding only the fields the translator reads gives what the mapper's domain events give."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    Notification,
    UUIDAsHex,
)

from commands.transcodings import register_domain_transcodings
from domain.fixture import Fixture
from domain.odds import MarginMethod, Market, OddsQuote, PriceFormat, QuoteStage
from domain.odds_book import OddsBook
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Sport
from forecasting.football.from_events import InputTranslator
from forecasting.football.inputs import FixtureAnnounced
from infra.forecasting.stored_fields import TOPICS, FieldDecoder, StoredStateError

KICKOFF = datetime(2016, 2, 6, 15, tzinfo=UTC)
FEED = Provenance(source="test", received_at=KICKOFF - timedelta(days=5))
PRICES: dict[Market, list[tuple[str, ...]]] = {
    Market.MATCH_RESULT: [("2.10", "3.40", "3.60"), ("2.05", "3.50", "3.70")],
    Market.OVER_UNDER_2_5: [("1.90", "1.95")],
    Market.MONEYLINE: [("1.50", "2.60")],
}


def transcoder() -> JSONTranscoder:
    t = JSONTranscoder()  # as FeedIngestion's: the Application defaults and the domain's
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        t.register(transcoding)
    register_domain_transcodings(t)
    return t


def quote(market: Market, *prices: str) -> OddsQuote:
    return OddsQuote.from_raw(
        market,
        dict(zip(market.outcomes, prices, strict=True)),
        PriceFormat.DECIMAL,
        MarginMethod.PROPORTIONAL,
    )


def history() -> list[Notification]:
    """Two football fixtures (one rescheduled), one basketball fixture, several markets."""
    mapper: Mapper[UUID] = Mapper(transcoder=transcoder())
    aggregates: list[Aggregate] = []
    for n, (sport, home, away) in enumerate(
        [
            (Sport.FOOTBALL, "Arsenal", "Chelsea"),
            (Sport.FOOTBALL, "Lazio", "Roma"),
            (Sport.BASKETBALL, "Celtics", "Knicks"),
        ]
    ):
        fixture = Fixture.schedule(
            sport=sport,
            competition="league",
            season="2015-2016",
            home=home,
            away=away,
            kickoff=KICKOFF + timedelta(hours=n),
            venue=None,
            venue_country="England" if n == 0 else None,
            provenance=FEED,
        )
        if n == 1:
            fixture.reschedule(KICKOFF + timedelta(days=3), "elsewhere", FEED, "Italy")
        markets = (
            [Market.MONEYLINE]
            if sport == Sport.BASKETBALL
            else [Market.MATCH_RESULT, Market.OVER_UNDER_2_5]
        )
        for market in markets:
            book = OddsBook.open(fixture=fixture, source="avg", market=market, provenance=FEED)
            prices = PRICES[market]
            stages = [QuoteStage.OPENING, None, QuoteStage.CLOSING]
            for i, stage in enumerate(stages):
                book.quote(
                    quote=quote(market, *prices[i % len(prices)]),
                    fixture=fixture,
                    stage=stage,
                    quoted_at=KICKOFF - timedelta(days=3 - i, minutes=n),
                    provenance=FEED,
                )
            aggregates.append(book)
        fixture.start(fixture.kickoff, FEED)
        fixture.finish(Score(2, 3 - n), FEED)  # 2-3, 2-2, 2-1
        aggregates.insert(0, fixture)
    events = [e for a in aggregates for e in a.collect_events()]
    stored = [mapper.to_stored_event(e) for e in events]
    return [
        Notification(
            id=i,
            originator_id=s.originator_id,
            originator_version=s.originator_version,
            topic=s.topic,
            state=s.state,
        )
        for i, s in enumerate(stored, start=1)
        if s.topic in TOPICS
    ]


def test_the_same_inputs_as_translating_the_mappers_domain_events() -> None:
    notifications = history()
    mapper: Mapper[UUID] = Mapper(transcoder=transcoder())
    by_events = InputTranslator()
    expected = [by_events.translate(mapper.to_domain_event(n)) for n in notifications]
    decoder = FieldDecoder.for_mapper(mapper, InputTranslator())
    assert decoder is not None

    got = [decoder.translate(n) for n in notifications]

    assert got == expected
    kinds = {type(x).__name__ for x in expected if x is not None}
    assert kinds == {"FixtureAnnounced", "OddsOpened", "OddsMoved", "OddsClosed", "ResultKnown"}
    assert sum(x is None for x in expected) > 5  # basketball, other markets


def test_schedulings_stored_before_the_venue_country_read_as_the_mappers_upcast() -> None:
    """Version-1 states (no venue country, no class_version) give what the mapper gives them
    after upcasting: no venue country; version-2 states carry it."""
    mapper: Mapper[UUID] = Mapper(transcoder=transcoder())
    old_and_new = []
    for n in history():
        old_and_new.append(n)
        if n.topic in TOPICS[:2]:
            state = json.loads(n.state)
            assert state.pop("class_version") == 2
            del state["venue_country"]
            old_and_new.append(replace(n, state=json.dumps(state).encode()))
    decoder = FieldDecoder.for_mapper(mapper, InputTranslator())
    assert decoder is not None
    by_events = InputTranslator()

    got = [decoder.translate(n) for n in old_and_new]

    assert got == [by_events.translate(mapper.to_domain_event(n)) for n in old_and_new]
    countries = [x.venue_country for x in got if isinstance(x, FixtureAnnounced)]
    assert countries == [None, None, "Italy", None, "England", None]  # Lazio first, moved


def test_no_decoder_where_the_mapper_does_more_than_plain_json() -> None:
    plain: Mapper[UUID] = Mapper(transcoder=transcoder())
    compressed: Mapper[UUID] = Mapper(transcoder=transcoder(), compressor=ZlibCompressor())
    bare: Mapper[UUID] = Mapper(transcoder=JSONTranscoder())  # no datetime transcoding registered

    assert FieldDecoder.for_mapper(plain, InputTranslator()) is not None
    assert FieldDecoder.for_mapper(compressed, InputTranslator()) is None
    assert FieldDecoder.for_mapper(bare, InputTranslator()) is None


def test_a_state_without_the_expected_encoding_is_refused() -> None:
    scheduled = next(n for n in history() if n.topic == TOPICS[0])
    broken = Notification(
        id=scheduled.id,
        originator_id=scheduled.originator_id,
        originator_version=scheduled.originator_version,
        topic=scheduled.topic,
        state=scheduled.state.replace(b'"datetime_iso"', b'"date_iso"'),
    )
    decoder = FieldDecoder.for_mapper(Mapper(transcoder=transcoder()), InputTranslator())
    assert decoder is not None

    with pytest.raises(StoredStateError, match="cannot be read"):
        decoder.translate(broken)
