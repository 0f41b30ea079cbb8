"""Shortcuts on the write path leave every stored byte as eventsourcing's own path makes it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    UUIDAsHex,
)

from commands.receipt import RECEIPT_NAMESPACE, receipt_id
from commands.transcodings import ProvenanceAsDict, ScoreAsList, register_domain_transcodings
from domain.fixture import Fixture
from domain.fixture_id import FIXTURE_NAMESPACE, name_based_id
from domain.odds import MarginMethod, Market, OddsQuote, Outcome, PriceFormat, QuoteStage
from domain.odds_book import ODDS_BOOK_NAMESPACE, OddsBook, odds_book_id
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Sport

NOW = datetime(2016, 3, 5, 12, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


class PlainProvenance(ProvenanceAsDict):
    """The provenance transcoding without its shortcuts: what the JSON must equal."""

    def encode(self, obj: Provenance) -> dict[str, Any]:
        return {
            "source": obj.source,
            "received_at": obj.received_at,
            "source_event_id": obj.source_event_id,
            "payload_ref": obj.payload_ref,
        }


def transcoders() -> tuple[JSONTranscoder, JSONTranscoder]:
    plain, fast = JSONTranscoder(), JSONTranscoder()
    for transcoder in (plain, fast):
        for eventsourcing_own in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
            transcoder.register(eventsourcing_own)
    plain.register(PlainProvenance())
    plain.register(ScoreAsList())
    register_domain_transcodings(fast)
    return plain, fast


def state(event: DomainEventProtocol[Any]) -> dict[str, Any]:
    s = dict(vars(event))
    del s["originator_id"], s["originator_version"]
    return s


@pytest.mark.parametrize(
    "name", ["", "replay:football/e0.csv:17:ab12:scheduled", "Zürich|1x2", "東京"]
)
def test_name_based_ids_are_uuid5(name: str) -> None:
    for namespace in (FIXTURE_NAMESPACE, ODDS_BOOK_NAMESPACE, RECEIPT_NAMESPACE):
        assert name_based_id(namespace, name) == uuid.uuid5(namespace, name)
    assert receipt_id(name) == uuid.uuid5(RECEIPT_NAMESPACE, name)


def test_provenance_json_is_the_same_byte_for_byte_reused_or_not() -> None:
    plain, fast = transcoders()
    received = [NOW, NOW + timedelta(microseconds=1), datetime(2016, 3, 5, 13, tzinfo=BERLIN)]
    provenances = [
        Provenance(source="replay-football", received_at=r, source_event_id=key, payload_ref=ref)
        for r in received
        for key in ("k1", "k2", None)
        for ref in ("sha256:ab", None)
    ]
    # Each object twice in a row (the events of one command), and again after others.
    states: list[dict[str, Any]] = [
        {"timestamp": NOW, "provenance": p, "score": Score(2, 1), "n": n}
        for p in provenances + provenances[::-1]
        for n in (1, 2)
    ]
    assert [fast.encode(s) for s in states] == [plain.encode(s) for s in states]
    assert [fast.decode(fast.encode(s)) for s in states] == states


def test_provenance_without_a_datetime_transcoding_is_encoded_plainly() -> None:
    provenance = Provenance(source="feed", received_at=NOW)
    bare: Transcoding = ProvenanceAsDict()
    assert bare.encode(provenance)["received_at"] is NOW


def test_odds_book_events_are_those_of_the_decorated_methods() -> None:
    plain, fast = transcoders()
    feed = Provenance(source="football-data-csv", received_at=NOW, payload_ref="sha256:abc")
    fixture = Fixture.schedule(
        sport=Sport.FOOTBALL,
        competition="premier-league",
        season="2015-2016",
        home="Arsenal",
        away="Spurs",
        kickoff=datetime(2016, 3, 5, 12, 45, tzinfo=BERLIN),
        venue=None,
        provenance=feed,
    )
    quote = OddsQuote.from_raw(
        Market.MATCH_RESULT,
        {Outcome.HOME: "2.10", Outcome.DRAW: "3.30", Outcome.AWAY: "3.40"},
        PriceFormat.DECIMAL,
        MarginMethod.SHIN,
    )
    book = OddsBook.open(fixture=fixture, source="avg", market=Market.MATCH_RESULT, provenance=feed)
    book.quote(
        quote=quote, fixture=fixture, stage=QuoteStage.OPENING, quoted_at=NOW, provenance=feed
    )
    # The same through eventsourcing's decorators: the constructor and the @event method.
    same = OddsBook(
        fixture_id=fixture.id, source="avg", market=Market.MATCH_RESULT, provenance=feed
    )
    same._odds_quoted(
        stage=QuoteStage.OPENING,
        quoted_at=NOW,
        price_format=quote.price_format,
        raw_prices=quote.raw_prices,
        decimal_prices=quote.decimal_prices,
        overround=quote.overround,
        margin_method=quote.margin_method,
        probabilities=quote.probabilities,
        provenance=feed,
    )
    ours, theirs = book.collect_events(), same.collect_events()
    assert [type(e) for e in ours] == [type(e) for e in theirs]
    assert book.id == same.id == odds_book_id(fixture.id, "avg", Market.MATCH_RESULT)
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.originator_id == reference.originator_id
        assert mine.originator_version == reference.originator_version
        mine_state, reference_state = state(mine), state(reference)
        reference_state["timestamp"] = mine_state["timestamp"]
        assert fast.encode(mine_state) == plain.encode(reference_state)
    assert book.latest == same.latest == quote
