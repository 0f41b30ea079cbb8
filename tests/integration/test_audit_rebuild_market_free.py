"""`sportcast audit rebuild-features` on forecasts nobody's quote made, on a real nats-server:
World Cup matches (the in-play artifact's Elo prior) and league fixtures whose odds never reach
the feed (the football artifact's market-free model) get kick-off and in-play forecasts whose
feature vectors need a model to draft; the audit loads the artifacts they cite from the object
store and rebuilds them exactly, and a changed feature is caught."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import date, datetime

import pytest
from typer.testing import CliRunner

from commands.forecasting.drafts import IN_MATCH_EVENT, KICK_OFF
from commands.forecasting.forecaster import LEAGUE_HISTORY
from domain.forecast import MARKET_FREE_PRIOR, FixtureForecasts
from forecasting.football.features import FeatureBuilder
from forecasting.football.market_free import ResultsFeatures
from forecasting.inplay.model import EloPrior
from infra.cli import app
from infra.embedded.nats import EmbeddedNats
from infra.feeds.messages import FeedMessage
from infra.feeds.replay import Replay
from infra.forecasting.artifacts import archive
from infra.forecasting.model_file import (
    LoadedInPlayModel,
    LoadedModel,
    dump_inplay_model,
    dump_model,
)
from tests.integration.test_market_free_forecasts import (  # noqa: F401 (fixtures)
    DATA,
    follow,
    football_model,
    inplay_model,
    stored,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}"),
]
runner = CliRunner()


def _feed() -> tuple[list[FeedMessage], set[str]]:
    """A World Cup's first week (never quoted), then a league season whose fixtures after a
    season's worth of results lose their odds; returns the messages and the withheld fixtures."""
    world_cup = Replay(DATA, since=date(2018, 6, 14), until=date(2018, 6, 22)).messages("worldcup")
    league = [
        m
        for m in Replay(DATA, since=date(2018, 8, 10), until=date(2018, 11, 30)).messages(
            "football"
        )
        if m.group == "england-premier-league"
    ]
    first_seen: dict[str, datetime] = {}
    for m in league:
        first_seen.setdefault(m.partition, m.at)
    order = sorted(first_seen, key=lambda p: (first_seen[p], p))
    withheld = set(order[LEAGUE_HISTORY + 5 :])
    kept = [m for m in league if not (m.kind == "odds" and m.partition in withheld)]
    return [*world_cup, *kept], withheld


@pytest.fixture(scope="module")
def market_free_log(
    nats_server: EmbeddedNats,
    football_model: LoadedModel,  # noqa: F811
    inplay_model: LoadedInPlayModel,  # noqa: F811
) -> tuple[dict[str, str], list[FixtureForecasts.ForecastIssued], set[str]]:
    url = nats_server.url
    name = f"T{uuid.uuid4().hex[:12].upper()}"
    events, forecasts, bucket = name, f"{name}_F", f"{name}_MODELS"
    football = dump_model(football_model.model)
    inplay = dump_inplay_model(inplay_model.model)
    archive(url, bucket, [football, inplay])  # as `sportcast up` does with every model it loads
    messages, withheld = _feed()
    env = stored(url, events, messages)
    issued = follow(
        env,
        forecasts,
        LoadedModel.from_bytes(football),
        inplay_model=LoadedInPlayModel.from_bytes(inplay),
    )
    cli_env = {
        "SPORTCAST_STREAM_NAME": events,
        "SPORTCAST_FORECASTER_STREAM": forecasts,
        "SPORTCAST_MODEL_BUCKET": bucket,
        "NATS_URL": url,
    }
    return cli_env, issued, withheld


def rebuild(env: dict[str, str], *args: str) -> tuple[int, dict[str, object]]:
    result = runner.invoke(
        app, ["audit", "rebuild-features", "--nats-url", env["NATS_URL"], "--json", *args], env=env
    )
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    return result.exit_code, json.loads(result.stdout)


def test_market_free_forecasts_rebuild_to_the_recorded_features(
    market_free_log: tuple[dict[str, str], list[FixtureForecasts.ForecastIssued], set[str]],
) -> None:
    env, issued, withheld = market_free_log
    free = [f for f in issued if f.prior == MARKET_FREE_PRIOR]
    kickoffs = [f for f in free if f.trigger == KICK_OFF]
    # Both market-free kinds are in the log, and in-play rows that start from each.
    assert {str(f.fixture_id) for f in kickoffs} >= withheld
    assert any("elo_expected_score" in f.features for f in kickoffs)  # World Cup
    assert any("home_expected_goals" in f.features for f in kickoffs)  # league, unquoted
    live_free = {str(f.fixture_id) for f in free if f.trigger == IN_MATCH_EVENT}
    assert live_free & withheld
    assert live_free - withheld

    code, report = rebuild(env)
    assert report["drifts"] == []
    assert report["not_rebuildable"] == []
    assert code == 0
    assert report["checked"] == len(issued)  # none skipped: no promotion in this log
    assert report["ok"] is True


def test_a_changed_market_free_feature_is_caught(
    market_free_log: tuple[dict[str, str], list[FixtureForecasts.ForecastIssued], set[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env, _, withheld = market_free_log
    original = FeatureBuilder.results_features

    def drifted(self: FeatureBuilder, fixture_id: str) -> ResultsFeatures:
        row = original(self, fixture_id)
        # A home/away mix-up in the feature code.
        return replace(row, poisson_home=row.poisson_away, poisson_away=row.poisson_home)

    monkeypatch.setattr(FeatureBuilder, "results_features", drifted)
    code, report = rebuild(env)
    assert code == 1
    drifts = report["drifts"]
    assert isinstance(drifts, list)
    drifted_fixtures = {d["fixture_id"] for d in drifts}
    assert drifted_fixtures == withheld  # every unquoted league fixture, nothing else
    kickoff_drifts = [d for d in drifts if "poisson_home" in d["differences"]]
    assert len(kickoff_drifts) == len(withheld)
    # Their in-play rows start from the market-free forecast of the drifted row.
    assert any(set(d["differences"]) >= {"prior_home"} for d in drifts)

    monkeypatch.undo()
    expected_score = EloPrior.expected_score

    def shifted(self: EloPrior, pool: str, home: str, away: str) -> float:
        return float(expected_score(self, pool, home, away)) + 0.01

    monkeypatch.setattr(EloPrior, "expected_score", shifted)
    code, report = rebuild(env)
    assert code == 1
    drifts = report["drifts"]
    assert isinstance(drifts, list)
    assert drifts
    assert {d["fixture_id"] for d in drifts}.isdisjoint(withheld)  # World Cup matches only
    assert any("elo_expected_score" in d["differences"] for d in drifts)
