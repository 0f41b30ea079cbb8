"""Historical replay: dataset rows become feed messages at plausible moments in event time.

Football: fixture announced 14 days before kick-off, opening odds 3 days before, closing odds 5
minutes before, kick-off, half-time score, full-time result. NBA: fixture, the pre-game
moneyline 30 minutes before tip-off, each quarter's score, the result. World Cup: fixture, every
goal and booking at its minute, half-time, result.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

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
from domain.odds import MarginMethod, Market, Outcome, PriceFormat, QuoteStage
from domain.provenance import Provenance
from domain.score import Score
from domain.sport import Side, Sport
from infra.feeds.datasets import (
    FootballMatchRow,
    MalformedRow,
    NbaGameRow,
    WorldCupBookingRow,
    WorldCupGoalRow,
    WorldCupMatchRow,
    read_football,
    read_nba,
    read_worldcup_bookings,
    read_worldcup_goals,
    read_worldcup_matches,
)
from infra.feeds.messages import FeedMessage

NBA_TIPOFF = time(19, 30)
NBA_TZ = ZoneInfo("America/New_York")
FOOTBALL_MARKETS = (
    (Market.MATCH_RESULT, (("home", Outcome.HOME), ("draw", Outcome.DRAW), ("away", Outcome.AWAY))),
    (Market.OVER_UNDER_2_5, (("over_2.5", Outcome.OVER), ("under_2.5", Outcome.UNDER))),
    (Market.BOTH_TEAMS_TO_SCORE, (("bts_yes", Outcome.YES), ("bts_no", Outcome.NO))),
)

Builder = Callable[[str, Provenance], FeedCommand]


class Replay:
    """Feed messages from ``../shared/data``, for one source, between two dates."""

    def __init__(
        self,
        data_dir: Path,
        *,
        margin_method: MarginMethod = MarginMethod.PROPORTIONAL,
        since: date | None = None,
        until: date | None = None,
        groups: Collection[str] | None = None,
    ) -> None:
        """``since``/``until``: kick-off dates (inclusive); ``groups``: only these groups
        (competitions, see :meth:`groups`)."""
        self.data_dir = data_dir
        self.margin_method = margin_method
        self.since, self.until = since, until
        self.malformed: list[MalformedRow] = []
        self._only = None if groups is None else frozenset(groups)

    def _in_range(self, kickoff: datetime) -> bool:
        day = kickoff.date()
        return (self.since is None or day >= self.since) and (
            self.until is None or day <= self.until
        )

    def messages(self, source: str) -> list[FeedMessage]:
        """Every message of ``source`` (football | nba | worldcup), sorted by event time."""
        producers = {"football": self.football, "nba": self.nba, "worldcup": self.worldcup}
        if source not in producers:
            raise ValueError(f"unknown source {source!r}: choose one of {sorted(producers)}")
        return sorted(producers[source](), key=lambda m: (m.at, m.partition, m.key))

    def groups(self, source: str) -> dict[str, int]:
        """The groups (competitions) of ``source`` selected, each with a size proportional to
        its messages (football: its rows, read without building messages): what a parallel
        replay shares out between its workers."""
        if source != "football":
            return dict(Counter(m.group for m in self.messages(source)))
        sizes: Counter[str] = Counter()
        for row in read_football(self.data_dir):
            if isinstance(row, MalformedRow):
                self.malformed.append(row)
            elif self._in_range(row.kickoff) and self._wanted(_competition(row)):
                sizes[_competition(row)] += 1
        return dict(sizes)

    def _wanted(self, group: str) -> bool:
        return self._only is None or group in self._only

    # football -----------------------------------------------------------------------------
    def football(self) -> Iterator[FeedMessage]:
        for row in read_football(self.data_dir):
            if isinstance(row, MalformedRow):
                self.malformed.append(row)
            elif self._in_range(row.kickoff) and self._wanted(_competition(row)):
                yield from self._football_match(row)

    def _football_match(self, row: FootballMatchRow) -> Iterator[FeedMessage]:
        competition = _competition(row)
        fid = fixture_id(Sport.FOOTBALL, competition, row.kickoff, row.home, row.away)
        msg = _Messages(row.source.path, row.source.line_no, row.source.raw, str(fid), competition)
        ko = row.kickoff

        def schedule(key: str, p: Provenance) -> FeedCommand:
            return ScheduleFixture(
                idempotency_key=key,
                provenance=p,
                sport=Sport.FOOTBALL,
                competition=competition,
                season=row.season,
                home=row.home,
                away=row.away,
                kickoff=ko,
            )

        yield msg("fixture", "scheduled", ko - timedelta(days=14), schedule)
        for stage, prices, at in (
            (QuoteStage.OPENING, row.opening, ko - timedelta(days=3)),
            (QuoteStage.CLOSING, row.closing, ko - timedelta(minutes=5)),
        ):
            for market, columns in FOOTBALL_MARKETS:
                raw = {outcome: prices[column] for column, outcome in columns}
                if any(v is None for v in raw.values()):
                    continue  # market not offered in this row (e.g. BTTS before 2012-2013)
                yield msg(
                    "odds",
                    f"{stage}-{market}",
                    at,
                    self._odds(
                        fid,
                        market,
                        {o: str(v) for o, v in raw.items()},
                        PriceFormat.DECIMAL,
                        at,
                        stage,
                    ),
                )
        yield msg("match-event", "started", ko, _start(fid, ko))
        if row.home_goals_ht is not None and row.away_goals_ht is not None:
            half_time = (row.home_goals_ht, row.away_goals_ht)
            yield msg(
                "match-event", "half-time", ko + timedelta(minutes=47), _period(fid, 1, *half_time)
            )
        if row.home_goals is not None and row.away_goals is not None:
            final = (row.home_goals, row.away_goals)
            yield msg("match-event", "finished", ko + timedelta(minutes=110), _finish(fid, *final))

    def _odds(
        self,
        fid: UUID,
        market: Market,
        prices: dict[Outcome, str],
        price_format: PriceFormat,
        at: datetime,
        stage: QuoteStage,
        source: str = "market-average",
    ) -> Builder:
        def build(key: str, p: Provenance) -> FeedCommand:
            return RecordOdds(
                idempotency_key=key,
                provenance=p,
                fixture_id=fid,
                source=source,
                market=market,
                prices=prices,
                price_format=price_format,
                margin_method=self.margin_method,
                quoted_at=at,
                stage=stage,
            )

        return build

    # NBA ------------------------------------------------------------------------------------
    def nba(self) -> Iterator[FeedMessage]:
        for row in read_nba(self.data_dir):
            if isinstance(row, MalformedRow):
                self.malformed.append(row)
                continue
            tipoff = datetime.combine(row.game_date, NBA_TIPOFF, tzinfo=NBA_TZ)
            if self._in_range(tipoff) and self._wanted("nba"):
                yield from self._nba_game(row, tipoff)

    def _nba_game(self, row: NbaGameRow, ko: datetime) -> Iterator[FeedMessage]:
        fid = fixture_id(Sport.BASKETBALL, "nba", ko, row.home, row.away)
        msg = _Messages(row.source.path, row.source.line_no, row.source.raw, str(fid), "nba")

        def schedule(key: str, p: Provenance) -> FeedCommand:
            return ScheduleFixture(
                idempotency_key=key,
                provenance=p,
                sport=Sport.BASKETBALL,
                competition="nba",
                season=str(row.season),
                home=row.home,
                away=row.away,
                kickoff=ko,
            )

        yield msg("fixture", "scheduled", ko - timedelta(days=14), schedule)
        if row.moneyline_home and row.moneyline_away:
            at = ko - timedelta(minutes=30)
            prices = {Outcome.HOME: row.moneyline_home, Outcome.AWAY: row.moneyline_away}
            yield msg(
                "odds",
                "moneyline",
                at,
                self._odds(
                    fid, Market.MONEYLINE, prices, PriceFormat.AMERICAN, at, QuoteStage.CLOSING
                ),
            )
        yield msg("match-event", "started", ko, _start(fid, ko))
        home = away = 0
        for quarter, (h, a) in enumerate(zip(row.home_quarters, row.away_quarters, strict=True), 1):
            if h is None or a is None or (quarter == 5 and h == 0 and a == 0):
                continue
            home, away = home + h, away + a
            at = ko + timedelta(minutes=36 * quarter)
            yield msg("match-event", f"period-{quarter}", at, _period(fid, quarter, home, away))
        if row.home_points is not None and row.away_points is not None:
            final = (row.home_points, row.away_points)
            yield msg("match-event", "finished", ko + timedelta(minutes=190), _finish(fid, *final))

    # World Cup ------------------------------------------------------------------------------
    def worldcup(self) -> Iterator[FeedMessage]:
        matches: dict[str, WorldCupMatchRow] = {}
        for m in read_worldcup_matches(self.data_dir):
            if isinstance(m, MalformedRow):
                self.malformed.append(m)
            else:
                matches[m.match_id] = m
        timeline: dict[str, list[WorldCupGoalRow | WorldCupBookingRow]] = {k: [] for k in matches}
        for row in [*read_worldcup_goals(self.data_dir), *read_worldcup_bookings(self.data_dir)]:
            if isinstance(row, MalformedRow):
                self.malformed.append(row)
            elif row.match_id in timeline:
                timeline[row.match_id].append(row)
        for match in matches.values():
            ko = _worldcup_kickoff(match)
            if self._in_range(ko) and self._wanted(match.tournament):
                yield from self._worldcup_match(match, ko, timeline[match.match_id])

    def _worldcup_match(
        self,
        match: WorldCupMatchRow,
        ko: datetime,
        events: list[WorldCupGoalRow | WorldCupBookingRow],
    ) -> Iterator[FeedMessage]:
        fid = fixture_id(Sport.FOOTBALL, match.tournament, ko, match.home, match.away)
        src = match.source
        msg = _Messages(src.path, src.line_no, src.raw, str(fid), match.tournament)

        def schedule(key: str, p: Provenance) -> FeedCommand:
            return ScheduleFixture(
                idempotency_key=key,
                provenance=p,
                sport=Sport.FOOTBALL,
                competition=match.tournament,
                season=match.tournament[:4],
                home=match.home,
                away=match.away,
                kickoff=ko,
                venue=match.venue,
                venue_country=match.country,
            )

        yield msg("fixture", "scheduled", ko - timedelta(days=14), schedule)
        yield msg("match-event", "started", ko, _start(fid, ko))
        events.sort(key=lambda e: (_clock(e), e.source.line_no))
        first_half = [_clock(e) for e in events if _half(e) == "first half"]
        half_time = ko + timedelta(minutes=max([47.0, *(c + 1 for c in first_half)]))
        half_time_sent = False
        score = [0, 0]
        for event in events:
            at = ko + timedelta(minutes=_clock(event))
            if not half_time_sent and _half(event) != "first half":
                yield msg("match-event", "half-time", half_time, _period(fid, 1, *score))
                half_time_sent = True
            side = Side.HOME if event.team == match.home else Side.AWAY
            ev = _Messages(
                event.source.path, event.source.line_no, event.source.raw, str(fid), msg.group
            )
            if isinstance(event, WorldCupGoalRow):
                score[0 if side == Side.HOME else 1] += 1
                yield ev("match-event", "goal", at, _goal(fid, side, event))
            else:
                yield ev("match-event", "card", at, _card(fid, side, event))
        if not half_time_sent:
            yield msg("match-event", "half-time", half_time, _period(fid, 1, *score))
        minutes = max([150.0 if match.extra_time else 110.0, *(_clock(e) + 1 for e in events)])
        final = (match.home_goals, match.away_goals)
        yield msg("match-event", "finished", ko + timedelta(minutes=minutes), _finish(fid, *final))


class _Messages:
    """Builds the messages of one source row, with stable keys derived from the row's bytes."""

    def __init__(self, path: str, line_no: int, raw: bytes, partition: str, group: str) -> None:
        self.origin = f"{path}:{line_no}"
        self.raw = raw
        self.partition = partition
        self.group = group
        self.digest = hashlib.sha256(raw).hexdigest()[:16]

    def __call__(self, kind: str, what: str, at: datetime, build: Builder) -> FeedMessage:
        return FeedMessage(
            at=at,
            partition=self.partition,
            kind=kind,
            key=f"replay:{self.origin}:{self.digest}:{what}",
            raw=self.raw,
            origin=self.origin,
            build=build,
            group=self.group,
        )


# Wall-clock minutes to add to a period's match minute: a 15-minute half-time break, then about
# 5 minutes before extra time and 1 between its halves. The file's periods are "first half",
# "second half", "extra time, first half", "extra time, second half", each possibly followed
# by ", stoppage time".
def _competition(row: FootballMatchRow) -> str:
    return f"{row.country}-{row.league}"


_PERIOD_OFFSET = {
    "first half": 0,
    "second half": 15,
    "extra time, first half": 20,
    "extra time, second half": 21,
}


def _half(event: WorldCupGoalRow | WorldCupBookingRow) -> str:
    return event.period.removesuffix(", stoppage time")


def _clock(event: WorldCupGoalRow | WorldCupBookingRow) -> float:
    """Minutes after kick-off in wall-clock terms (half-time and breaks included)."""
    half = _half(event)
    if half not in _PERIOD_OFFSET:
        raise ValueError(f"unknown match period {event.period!r} at {event.source.path}")
    return event.minute + event.stoppage_minute + _PERIOD_OFFSET[half]


def _worldcup_kickoff(match: WorldCupMatchRow) -> datetime:
    # Local kick-off times without a zone: taken as UTC (ordering within a day is what matters).
    hours, minutes = (int(x) for x in (match.match_time or "15:00").split(":"))
    return datetime.combine(match.match_date, time(hours, minutes), tzinfo=UTC)


def _start(fid: UUID, ko: datetime) -> Builder:
    return lambda key, p: StartFixture(
        idempotency_key=key, provenance=p, fixture_id=fid, started_at=ko
    )


def _period(fid: UUID, period: int, home: int, away: int) -> Builder:
    return lambda key, p: EndPeriod(
        idempotency_key=key, provenance=p, fixture_id=fid, period=period, score=Score(home, away)
    )


def _finish(fid: UUID, home: int, away: int) -> Builder:
    return lambda key, p: FinishFixture(
        idempotency_key=key, provenance=p, fixture_id=fid, score=Score(home, away)
    )


def _goal(fid: UUID, side: Side, goal: WorldCupGoalRow) -> Builder:
    return lambda key, p: RecordGoal(
        idempotency_key=key,
        provenance=p,
        fixture_id=fid,
        side=side,
        minute=goal.minute,
        stoppage=goal.stoppage_minute,
        player=goal.player or None,
        own_goal=goal.own_goal,
        penalty=goal.penalty,
    )


def _card(fid: UUID, side: Side, booking: WorldCupBookingRow) -> Builder:
    kind = (
        CardKind.SECOND_YELLOW
        if booking.second_yellow
        else CardKind.RED
        if booking.red or booking.sending_off
        else CardKind.YELLOW
    )
    return lambda key, p: RecordCard(
        idempotency_key=key,
        provenance=p,
        fixture_id=fid,
        card=kind,
        side=side,
        minute=booking.minute,
        stoppage=booking.stoppage_minute,
        player=booking.player or None,
    )
