"""OddsQuote and the OddsBook aggregate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import (
    ImpossibleBook,
    MarketNotForSport,
    OddsAfterResult,
    OddsBookMismatch,
    OutcomeMismatch,
)
from domain.fixture import Fixture
from domain.odds import MarginMethod, Market, OddsQuote, Outcome, PriceFormat, QuoteStage
from domain.odds_book import OddsBook
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Sport

NOW = datetime(2016, 3, 5, 12, tzinfo=UTC)
FEED = Provenance(source="football-data-csv", received_at=NOW, payload_ref="sha256:abc")
ONE_X_TWO = {Outcome.AWAY: "3.40", Outcome.HOME: "2.10", Outcome.DRAW: "3.30"}


def football_fixture() -> Fixture:
    return Fixture.schedule(
        sport=Sport.FOOTBALL,
        competition="premier-league",
        season="2015-2016",
        home="Arsenal",
        away="Spurs",
        kickoff=datetime(2016, 3, 5, 12, 45, tzinfo=UTC),
        venue=None,
        provenance=FEED,
    )


def quote(stage_prices: dict[Outcome, str] = ONE_X_TWO) -> OddsQuote:
    return OddsQuote.from_raw(
        Market.MATCH_RESULT, stage_prices, PriceFormat.DECIMAL, MarginMethod.SHIN
    )


def test_quote_lists_prices_in_market_outcome_order_and_keeps_raw_strings() -> None:
    q = quote()
    assert q.raw_prices == ("2.10", "3.30", "3.40")
    assert q.decimal_prices == (2.1, 3.3, 3.4)
    assert q.overround == pytest.approx(1 / 2.1 + 1 / 3.3 + 1 / 3.4 - 1, abs=1e-12)
    assert sum(q.probabilities) == pytest.approx(1.0, abs=1e-9)
    assert q.probability_of(Outcome.HOME) > q.probability_of(Outcome.AWAY)


def test_quote_is_reproducible_from_raw_prices_format_and_method_alone() -> None:
    q = OddsQuote.from_raw(
        Market.MONEYLINE,
        {Outcome.HOME: "-150", Outcome.AWAY: "+130"},
        PriceFormat.AMERICAN,
        MarginMethod.POWER,
    )
    again = OddsQuote.from_raw(
        q.market,
        dict(zip(q.market.outcomes, q.raw_prices, strict=True)),
        q.price_format,
        q.margin_method,
    )
    assert again == q


def test_quote_must_price_exactly_the_markets_outcomes() -> None:
    with pytest.raises(OutcomeMismatch) as raised:
        quote({Outcome.HOME: "2.10", Outcome.AWAY: "3.40"})
    assert raised.value.code == "outcome-mismatch"


def test_quote_rejects_an_impossible_book_from_the_dataset() -> None:
    # Prices shaped like the March 2016 rows whose implied probabilities sum below 1.
    with pytest.raises(ImpossibleBook):
        quote({Outcome.HOME: "2.60", Outcome.DRAW: "3.80", Outcome.AWAY: "3.20"})


def test_book_records_quotes_and_tracks_opening_and_closing_lines() -> None:
    fixture = football_fixture()
    book = OddsBook.open(fixture=fixture, source="avg", market=Market.MATCH_RESULT, provenance=FEED)
    book.quote(
        quote=quote(), fixture=fixture, stage=QuoteStage.OPENING, quoted_at=NOW, provenance=FEED
    )
    closing = quote({Outcome.HOME: "2.00", Outcome.DRAW: "3.40", Outcome.AWAY: "3.60"})
    book.quote(
        quote=closing, fixture=fixture, stage=QuoteStage.CLOSING, quoted_at=NOW, provenance=FEED
    )
    assert book.opening == quote()
    assert book.closing_line == closing
    assert book.latest == closing
    events = book.collect_events()
    assert [type(e).__name__ for e in events] == ["Opened", "OddsQuoted", "OddsQuoted"]
    assert all(e.provenance == FEED for e in events)  # type: ignore[attr-defined]

    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert replayed == book


def test_no_odds_once_the_result_is_in() -> None:
    fixture = football_fixture()
    book = OddsBook.open(fixture=fixture, source="avg", market=Market.MATCH_RESULT, provenance=FEED)
    fixture.start(None, FEED)
    fixture.finish(Score(1, 0), FEED)
    with pytest.raises(OddsAfterResult) as raised:
        book.quote(quote=quote(), fixture=fixture, stage=None, quoted_at=NOW, provenance=FEED)
    assert raised.value.code == "odds-after-result"


def test_book_rejects_a_quote_for_another_market_or_fixture() -> None:
    fixture = football_fixture()
    book = OddsBook.open(
        fixture=fixture, source="avg", market=Market.OVER_UNDER_2_5, provenance=FEED
    )
    with pytest.raises(OddsBookMismatch) as raised:
        book.quote(quote=quote(), fixture=fixture, stage=None, quoted_at=NOW, provenance=FEED)
    assert raised.value.code == "odds-book-mismatch"


def test_a_market_must_exist_in_the_fixtures_sport() -> None:
    with pytest.raises(MarketNotForSport) as raised:
        OddsBook.open(
            fixture=football_fixture(), source="avg", market=Market.MONEYLINE, provenance=FEED
        )
    assert raised.value.code == "market-not-for-sport"


def test_market_outcomes() -> None:
    assert Market.MATCH_RESULT.outcomes == (Outcome.HOME, Outcome.DRAW, Outcome.AWAY)
    assert Market.MONEYLINE.outcomes == (Outcome.HOME, Outcome.AWAY)
    assert Market.OVER_UNDER_2_5.outcomes == (Outcome.OVER, Outcome.UNDER)
    assert Market.BOTH_TEAMS_TO_SCORE.outcomes == (Outcome.YES, Outcome.NO)
