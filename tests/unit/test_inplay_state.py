"""In-play football: states from a World Cup timeline, the Poisson baseline, the Elo prior."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecasting.inplay.model import (
    CARRY_OVER,
    HOST_ADVANTAGE,
    KEPT_PRIORS,
    EloPrior,
    EloPriors,
    MatchState,
    TimelineEvent,
    baseline_proba,
    fit_draw_peak,
    fit_elo_prior,
    one_x_two,
    regulation_outcome,
    state_at,
)
from forecasting.metrics import log_loss

PRIOR = (0.5, 0.3, 0.2)
# 2006 final, Italy v France (France listed as away here): 7' pen France, 19' Materazzi,
# 110' Zidane sent off in extra time; plus a made-up 45+2 goal and a 90+3 red for coverage.
TIMELINE = (
    TimelineEvent("goal", 7, home=False),
    TimelineEvent("goal", 19, home=True),
    TimelineEvent("goal", 45, home=True),  # 45+2': first-half stoppage
    TimelineEvent("sending-off", 60, home=False),
    TimelineEvent("sending-off", 90, home=True),  # 90+3'
    TimelineEvent("goal", 110, home=False, extra_time=True),
    TimelineEvent("sending-off", 110, home=False, extra_time=True),
)


@pytest.mark.parametrize(
    ("minute", "score", "reds"),
    [
        (0, (0, 0), (0, 0)),
        (6, (0, 0), (0, 0)),
        (7, (0, 1), (0, 0)),
        (15, (0, 1), (0, 0)),
        (30, (1, 1), (0, 0)),
        (45, (2, 1), (0, 0)),
        (59, (2, 1), (0, 0)),
        (60, (2, 1), (0, 1)),
        (85, (2, 1), (0, 1)),
        (90, (2, 1), (1, 1)),
    ],
)
def test_state_counts_goals_and_sendings_off_up_to_the_minute(
    minute: int, score: tuple[int, int], reds: tuple[int, int]
) -> None:
    state = state_at(TIMELINE, minute, PRIOR)
    assert (state.home_goals, state.away_goals) == score
    assert (state.home_reds, state.away_reds) == reds
    assert state.prior == PRIOR


def test_extra_time_goals_do_not_change_the_regulation_result() -> None:
    assert regulation_outcome(TIMELINE) == 0
    level = (TimelineEvent("goal", 10, home=True), TimelineEvent("goal", 100, True, True))
    assert regulation_outcome(level) == 0
    assert regulation_outcome((TimelineEvent("goal", 100, True, True),)) == 1


def test_baseline_at_kickoff_reproduces_the_prior_and_rows_sum_to_one() -> None:
    priors = [(0.25, 0.4, 0.35), (0.8, 0.15, 0.05), one_x_two(0.97, 0.27)]
    states = [MatchState(0, 0, 0, 0, 0, p) for p in priors]
    states += [MatchState(m, 1, 0, 0, 1, PRIOR) for m in (15, 45, 75, 90)]
    p = baseline_proba(states)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.allclose(p[:3], np.array(priors), atol=1e-6)
    assert p[-1] == pytest.approx([1.0, 0.0, 0.0])  # a lead at 90:00 is final


def test_a_lead_is_worth_more_the_later_it_is() -> None:
    p = baseline_proba([MatchState(m, 1, 0, 0, 0, PRIOR) for m in (15, 45, 75)])
    assert p[0, 0] < p[1, 0] < p[2, 0]


def test_elo_prior_is_proper_and_learns_only_from_played_matches() -> None:
    elo = EloPrior(draw_peak=0.27)
    before = elo.prior("men", "Brazil", "Haiti")
    assert sum(before) == pytest.approx(1.0)
    assert before[0] == pytest.approx(before[2])  # unknown teams on a neutral ground
    elo.update("men", "Brazil", "Haiti", 7, 1)
    after = elo.prior("men", "Brazil", "Haiti")
    assert after[0] > before[0]
    assert sum(after) == pytest.approx(1.0)
    assert elo.prior("women", "Brazil", "Haiti") == before  # separate pools


def test_state_rejects_a_prior_that_does_not_sum_to_one() -> None:
    with pytest.raises(ValueError):
        MatchState(30, 0, 0, 0, 0, (0.5, 0.3, 0.3))


def test_the_elo_prior_calibration_recovers_the_scale_and_peak_that_made_the_results() -> None:
    """Outcomes drawn from an over-confident Elo (the truth tempers its logit by 0.8) with a
    draw peak of 0.3: the fit on them finds both, and its prior scores better than the raw
    Elo with the best peak alone."""
    rng = np.random.default_rng(3)
    expected = rng.uniform(0.05, 0.95, 20_000)
    truth = np.array([one_x_two(float(e), 0.3, 0.8) for e in expected])
    outcomes = np.array([rng.choice(3, p=p) for p in truth], dtype=np.int64)
    scale, peak = fit_elo_prior(list(expected), outcomes)
    assert scale == pytest.approx(0.8, abs=0.05)
    assert peak == pytest.approx(0.3, abs=0.02)
    calibrated = np.array([one_x_two(float(e), peak, scale) for e in expected])
    raw_peak = fit_draw_peak(list(expected), outcomes)
    raw = np.array([one_x_two(float(e), raw_peak) for e in expected])
    assert log_loss(calibrated, outcomes) < log_loss(raw, outcomes)
    assert np.allclose(calibrated.sum(axis=1), 1.0)
    assert one_x_two(0.7, 0.3, 1.0) == one_x_two(0.7, 0.3)  # scale 1: the raw expected score


def test_the_elo_prior_calibration_weighs_each_match_as_told() -> None:
    """Weights (a selection benchmark's time decay): equal weights fit what no weights do, and
    zero weights leave their matches out, so two eras fitted apart find their own scales."""
    n = 1_500
    rng = np.random.default_rng(5)
    expected = rng.uniform(0.05, 0.95, n)
    early = (np.arange(n) < n // 2).astype(np.float64)
    scales = np.where(early > 0, 0.6, 1.6)
    truth = [one_x_two(float(e), 0.3, float(s)) for e, s in zip(expected, scales, strict=True)]
    outcomes = np.array([rng.choice(3, p=p) for p in truth], dtype=np.int64)
    assert fit_elo_prior(list(expected), outcomes, np.full(n, 2.5)) == fit_elo_prior(
        list(expected), outcomes
    )
    for weights, scale in ((early, 0.6), (1.0 - early, 1.6)):
        fitted = fit_elo_prior(list(expected), outcomes, weights)
        kept = weights > 0
        assert fitted == fit_elo_prior(list(expected[kept]), outcomes[kept])
        assert fitted[0] == pytest.approx(scale, abs=0.3)


def test_a_new_edition_regresses_the_pool_toward_the_mean_once() -> None:
    """Four years between World Cups: the first match of an edition keeps CARRY_OVER of each
    rating's distance from the mean; a late result of the old edition regresses nothing more,
    and a competition without an edition year (a league) never regresses."""
    carried, kept = EloPrior(carry_over=0.8), EloPrior(carry_over=1.0)
    for elo in (carried, kept):
        elo.update("2014 FIFA Men's World Cup", "Germany", "Brazil", 7, 1)
    before = kept.expected_score("2014 FIFA Men's World Cup", "Germany", "Brazil")
    assert carried.expected_score("2014 FIFA Men's World Cup", "Germany", "Brazil") == before
    gap = 400.0 * math.log10(before / (1.0 - before))  # rating points between the two
    after = carried.expected_score("2018 FIFA Men's World Cup", "Germany", "Brazil")
    assert 400.0 * math.log10(after / (1.0 - after)) == pytest.approx(0.8 * gap)
    assert kept.expected_score("2018 FIFA Men's World Cup", "Germany", "Brazil") == before
    carried.update("2014 FIFA Men's World Cup", "Spain", "Chile", 0, 2)  # late, old edition
    carried.update("2018 FIFA Men's World Cup", "Spain", "Chile", 1, 1)
    assert carried.expected_score("2018 FIFA Men's World Cup", "Germany", "Brazil") == after
    assert carried.expected_score("FIFA Women's World Cup", "Germany", "Brazil") == 0.5
    league = EloPrior(carry_over=0.5)
    league.update("england/premier-league", "Arsenal", "Fulham", 3, 0)
    first = league.expected_score("england/premier-league", "Arsenal", "Fulham")
    league.update("england/premier-league", "Leeds", "Everton", 1, 0)
    assert league.expected_score("england/premier-league", "Arsenal", "Fulham") == first


def test_elo_priors_answer_with_the_prior_an_artifact_was_trained_on() -> None:
    """One prior per (carry-over, host advantage) an artifact may record, each fed the same
    results (with where they were played): each answers as a single prior of its own."""
    priors = EloPriors()
    single = {(c, h): EloPrior(carry_over=c, host_advantage=h) for c, h in KEPT_PRIORS}
    assert set(single) == {(1.0, 0.0), (CARRY_OVER, 0.0), (CARRY_OVER, HOST_ADVANTAGE)}
    results = [
        ("2014 FIFA Men's World Cup", "Germany", "Brazil", 7, 1, "Brazil"),
        ("2018 FIFA Men's World Cup", "Russia", "Mexico", 2, 0, "Russia"),
    ]
    for result in results:
        priors.update(*result)
        for elo in single.values():
            elo.update(*result)
    asked = ("2018 FIFA Men's World Cup", "Germany", "Russia")
    answers = {}
    for prior, elo in single.items():
        answers[prior] = priors.expected_score(*asked, prior, "Russia")
        assert answers[prior] == elo.expected_score(*asked, "Russia")
    assert len(set(answers.values())) == 3
    with pytest.raises(ValueError, match=r"\(0\.5, 0\.0\)"):
        priors.expected_score(*asked, (0.5, 0.0))


def test_a_host_nation_plays_at_home() -> None:
    """A side playing in its own country gets HOST_ADVANTAGE Elo points, for or against;
    a neutral venue, or one the feed did not name, none. The 1974 hosts are named West
    Germany, their country Germany. Results update the ratings as expected with it."""
    host, neutral = EloPrior(), EloPrior(host_advantage=0.0)
    cup = "2018 FIFA Men's World Cup"
    even = neutral.expected_score(cup, "Russia", "Egypt", "Russia")
    assert even == 0.5
    for country in (None, "Qatar"):
        assert host.expected_score(cup, "Russia", "Egypt", country) == 0.5
    at_home = host.expected_score(cup, "Russia", "Egypt", "Russia")
    assert at_home == pytest.approx(1.0 / (1.0 + 10.0 ** (-HOST_ADVANTAGE / 400.0)))
    assert host.expected_score(cup, "Egypt", "Russia", "Russia") == pytest.approx(1.0 - at_home)
    old = "1974 FIFA World Cup"
    assert host.expected_score(old, "West Germany", "Chile", "Germany") == pytest.approx(at_home)
    # A host's win was expected: it moves the ratings less than a win at a neutral venue.
    host.update(cup, "Russia", "Egypt", 3, 1, "Russia")
    neutral.update(cup, "Russia", "Egypt", 3, 1, "Russia")
    assert (
        0.5
        < host.expected_score(cup, "Russia", "Egypt")
        < neutral.expected_score(cup, "Russia", "Egypt")
    )
