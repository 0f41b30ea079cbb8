"""The demo feed behaves like football and like a betting market."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from infra.feeds.simulator import SeasonSimulator, SimEvent, outcome_probabilities, round_robin


def _season(seed: int = 7) -> list[SimEvent]:
    return list(SeasonSimulator(seed=seed).events())


def test_same_seed_same_feed_other_seed_other_feed() -> None:
    assert _season(3) == _season(3)
    assert _season(3) != _season(4)


def test_double_round_robin_plays_every_pairing_home_and_away_once() -> None:
    teams = [f"T{i}" for i in range(20)]
    pairings = [pair for rnd in round_robin(teams) for pair in rnd]
    assert len(pairings) == 20 * 19
    assert len(set(pairings)) == 20 * 19
    assert all(len({t for pair in rnd for t in pair}) == 20 for rnd in round_robin(teams))


def test_feed_is_in_emission_order_and_goals_add_up_to_the_result() -> None:
    events = _season()
    assert [e.at for e in events] == sorted(e.at for e in events)
    goals: Counter[tuple[str, str]] = Counter()
    for e in events:
        if e.kind == "goal":
            goals[(e.fixture.fixture_key, str(e.data["team"]))] += 1
        if e.kind == "finished":
            f = e.fixture
            assert e.data["home"] == goals[(f.fixture_key, f.home)]
            assert e.data["away"] == goals[(f.fixture_key, f.away)]


def test_scoring_and_home_advantage_are_plausible() -> None:
    finals = [e.data for e in _season() if e.kind == "finished"]
    assert len(finals) == 380
    per_match = sum(int(str(f["home"])) + int(str(f["away"])) for f in finals) / len(finals)
    assert 2.2 < per_match < 3.4
    home_wins = sum(1 for f in finals if int(str(f["home"])) > int(str(f["away"])))
    away_wins = sum(1 for f in finals if int(str(f["home"])) < int(str(f["away"])))
    assert home_wins > away_wins


def test_quotes_carry_the_margin_and_closing_prices_beat_opening_ones() -> None:
    quotes: dict[str, list[list[float]]] = defaultdict(list)
    result: dict[str, int] = {}
    for e in _season():
        key = e.fixture.fixture_key
        if e.kind == "odds_quoted":
            quotes[key].append([float(str(p)) for p in e.data["prices"]])  # type: ignore[attr-defined]
        if e.kind == "finished":
            h, a = int(str(e.data["home"])), int(str(e.data["away"]))
            result[key] = 0 if h > a else 1 if h == a else 2
    overrounds = [sum(1 / p for p in q) - 1 for qs in quotes.values() for q in qs]
    assert abs(sum(overrounds) / len(overrounds) - 0.05) < 0.01

    def log_loss(which: int) -> float:
        total = 0.0
        for key, qs in quotes.items():
            implied = [1 / p for p in qs[which]]
            total -= math.log(implied[result[key]] / sum(implied))
        return total / len(quotes)

    assert log_loss(-1) < log_loss(0)


def test_outcome_probabilities_are_a_distribution_favouring_the_stronger_side() -> None:
    home, draw, away = outcome_probabilities(2.0, 0.8)
    assert math.isclose(home + draw + away, 1.0)
    assert home > away
