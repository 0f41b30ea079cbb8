"""A self-contained football feed: a plausible season driven by hidden team strengths.

Nothing here needs the datasets. Each team has hidden attack and defence strengths; goals follow
a Poisson process whose rate drops for a side reduced to ten men; bookmakers price the match from
a noisy view of the true probabilities plus a margin, and their view sharpens towards kick-off
(so odds move, and closing prices beat opening ones, as in real markets). Deterministic per seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

TEAM_NAMES = (
    "Ashford Athletic", "Brockley Rovers", "Calder Town", "Dunmore City", "Eastwick United",
    "Fairhaven FC", "Glenrock Albion", "Harwood Wanderers", "Ironbridge", "Jarrow Park",
    "Kingsmere", "Lowther Vale", "Marlow Forest", "Northam Borough", "Oakridge Sporting",
    "Penrose Harriers", "Queensbury", "Redcliffe Rangers", "Stanmore Dynamo", "Thornbury Villa",
)  # fmt: skip
MATCH_MINUTES = 90
HOME_ADVANTAGE = 0.25  # log-rate, about 0.35 extra expected goals at home
BASE_RATE = math.log(1.35)  # goals per team per match at even strength


@dataclass(frozen=True)
class Team:
    name: str
    attack: float
    defence: float


@dataclass(frozen=True, kw_only=True)
class SimFixture:
    fixture_key: str
    competition: str
    season: str
    home: str
    away: str
    kickoff: datetime


@dataclass(frozen=True, kw_only=True)
class SimEvent:
    """One feed message: what happened, when the feed emits it, and its payload."""

    at: datetime
    kind: str  # fixture_scheduled | odds_quoted | started | goal | card | period_ended | finished
    fixture: SimFixture
    data: dict[str, object] = field(default_factory=dict)


def _poisson_pmf(k: int, lam: float) -> float:
    return math.exp(-lam) * lam**k / math.factorial(k)


def outcome_probabilities(home_rate: float, away_rate: float) -> tuple[float, float, float]:
    """Home/draw/away probabilities of two independent Poisson scores (truncated at 10)."""
    home = draw = away = 0.0
    for h in range(11):
        ph = _poisson_pmf(h, home_rate)
        for a in range(11):
            p = ph * _poisson_pmf(a, away_rate)
            if h > a:
                home += p
            elif h == a:
                draw += p
            else:
                away += p
    total = home + draw + away
    return home / total, draw / total, away / total


def round_robin(teams: list[str]) -> list[list[tuple[str, str]]]:
    """Double round robin by the circle method: every pairing home and away once."""
    names = list(teams) + (["(bye)"] if len(teams) % 2 else [])
    n = len(names)
    rounds = []
    for r in range(n - 1):
        pairs = [(names[i], names[n - 1 - i]) for i in range(n // 2)]
        rounds.append([(a, b) if r % 2 == 0 else (b, a) for a, b in pairs if "(bye)" not in (a, b)])
        names = [names[0], names[-1], *names[1:-1]]
    return rounds + [[(b, a) for a, b in rnd] for rnd in rounds]


# When a fixture is quoted (hours before kick-off), and how noisy the market's view of the truth
# is then: it sharpens as kick-off nears, from 0.25 to 0.05. The last is the closing quote.
QUOTES: tuple[tuple[float, float], ...] = (
    (144, 0.25),
    (72, 0.18),
    (24, 0.12),
    (3, 0.08),
    (0.1, 0.05),
)


class SeasonSimulator:
    """Generates a season's feed, in emission order."""

    def __init__(
        self,
        *,
        seed: int = 7,
        teams: int = 20,
        competition: str = "sim-league",
        season: str = "2026-2027",
        start: datetime = datetime(2026, 8, 8, 14, 0, tzinfo=UTC),
        margin: float = 0.05,
        match_seed: int | None = None,
        spread: timedelta | None = None,
        quotes: tuple[tuple[float, float], ...] = QUOTES,
    ) -> None:
        """``seed`` draws the teams' strengths; ``match_seed`` (default: the same stream) the
        matches, so several seasons of one league share its teams but not its results.
        ``spread``: a round's fixtures kick off this far apart (default: in three slots two
        hours apart), so that a round's quotes and matches spread over its week. ``quotes``: when
        each fixture is quoted (hours before kick-off) and how noisy the market's view is then."""
        self.spread = spread
        self.quotes = quotes
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not secrecy
        self.competition, self.season, self.start, self.margin = competition, season, start, margin
        self.teams = {
            name: Team(name, self.rng.gauss(0, 0.25), self.rng.gauss(0, 0.25))
            for name in TEAM_NAMES[:teams]
        }
        if match_seed is not None:
            self.rng = random.Random(match_seed)  # noqa: S311

    def rates(self, home: str, away: str) -> tuple[float, float]:
        h, a = self.teams[home], self.teams[away]
        return (
            math.exp(BASE_RATE + HOME_ADVANTAGE + h.attack - a.defence),
            math.exp(BASE_RATE + a.attack - h.defence),
        )

    def fixtures(self) -> list[SimFixture]:
        out = []
        for week, games in enumerate(round_robin(list(self.teams))):
            for slot, (home, away) in enumerate(games):
                offset = (
                    timedelta(hours=2 * (slot % 3)) if self.spread is None else slot * self.spread
                )
                kickoff = self.start + timedelta(weeks=week) + offset
                out.append(
                    SimFixture(
                        fixture_key=f"{self.competition}:{self.season}:{week + 1}:{home}:{away}",
                        competition=self.competition,
                        season=self.season,
                        home=home,
                        away=away,
                        kickoff=kickoff,
                    )
                )
        return out

    def events(self) -> Iterator[SimEvent]:
        """Every feed message of the season, sorted by emission time."""
        everything = [e for fixture in self.fixtures() for e in self.match_events(fixture)]
        yield from sorted(everything, key=lambda e: (e.at, e.fixture.fixture_key))

    def quote(
        self, fixture: SimFixture, truth: tuple[float, float, float], noise: float
    ) -> list[str]:
        """Decimal prices (as a feed would send them) from a noisy view of the truth."""
        view = [max(p * math.exp(self.rng.gauss(0, noise)), 0.01) for p in truth]
        total = sum(view)
        return [f"{1 / ((p / total) * (1 + self.margin)):.2f}" for p in view]

    def match_events(self, fixture: SimFixture) -> list[SimEvent]:
        rng, ko = self.rng, fixture.kickoff
        home_rate, away_rate = self.rates(fixture.home, fixture.away)
        truth = outcome_probabilities(home_rate, away_rate)
        events = [SimEvent(at=ko - timedelta(days=10), kind="fixture_scheduled", fixture=fixture)]
        for hours_before, noise in self.quotes:
            prices = self.quote(fixture, truth, noise)
            events.append(
                SimEvent(
                    at=ko - timedelta(hours=hours_before),
                    kind="odds_quoted",
                    fixture=fixture,
                    data={"market": "1X2", "prices": prices, "closing": hours_before < 1},
                )
            )
        events.append(SimEvent(at=ko, kind="started", fixture=fixture))
        score = {"home": 0, "away": 0}
        men = {"home": 11, "away": 11}
        rate = {"home": home_rate / MATCH_MINUTES, "away": away_rate / MATCH_MINUTES}
        for minute in range(1, MATCH_MINUTES + 1):
            for side in ("home", "away"):
                team = fixture.home if side == "home" else fixture.away
                if rng.random() < rate[side] * (0.75 if men[side] < 11 else 1.0):
                    score[side] += 1
                    events.append(
                        SimEvent(
                            at=ko + timedelta(minutes=minute + (15 if minute > 45 else 0)),
                            kind="goal",
                            fixture=fixture,
                            data={"minute": minute, "team": team, "penalty": rng.random() < 0.1},
                        )
                    )
                if rng.random() < 1.9 / MATCH_MINUTES:
                    red = rng.random() < 0.03
                    men[side] -= 1 if red else 0
                    events.append(
                        SimEvent(
                            at=ko + timedelta(minutes=minute + (15 if minute > 45 else 0)),
                            kind="card",
                            fixture=fixture,
                            data={
                                "minute": minute,
                                "team": team,
                                "card": "red" if red else "yellow",
                            },
                        )
                    )
            if minute == 45:
                events.append(
                    SimEvent(
                        at=ko + timedelta(minutes=47),
                        kind="period_ended",
                        fixture=fixture,
                        data={"period": "first-half", **score},
                    )
                )
        events.append(
            SimEvent(
                at=ko + timedelta(minutes=110), kind="finished", fixture=fixture, data=dict(score)
            )
        )
        return events
