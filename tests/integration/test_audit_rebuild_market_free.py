"""`sportcast audit rebuild-features` on forecasts nobody's quote made, on a real nats-server:
World Cup matches (the in-play artifact's Elo prior), league fixtures whose odds never reach
the feed (the football artifact's market-free model) and NBA games without a line (the NBA
artifact's market-free model) get kick-off and in-play forecasts whose feature vectors need a
model to draft; the audit loads the artifacts they cite from the object store and rebuilds them
exactly, a changed feature is caught, and forecasts of a changed artifact are listed as not
rebuildable."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pytest
from typer.testing import CliRunner

from commands.forecasting.drafts import IN_MATCH_EVENT, KICK_OFF
from domain.forecast import MARKET_FREE_PRIOR, FixtureForecasts
from forecasting.football.features import FeatureBuilder
from forecasting.football.market_free import ResultsFeatures
from forecasting.inplay.model import EloPrior
from infra.cli import app
from infra.connections import connect_nats
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
from infra.forecasting.nba_model_file import LoadedNbaModels, dump_nba_models
from tests.integration.test_market_free_forecasts import (  # noqa: F401 (fixtures)
    DATA,
    epl_autumn_2018,
    follow,
    football_model,
    inplay_model,
    nba_models,
    stored,
)

pytestmark = [
    pytest.mark.slow,
    # The module's log (three models trained, a replay followed) takes ~25 s of CPU; at load 15-17
    # that was 231 s of wall time once and past the suite's 300 s once.
    pytest.mark.timeout(600),
    pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}"),
]
runner = CliRunner()


def _feed() -> tuple[list[FeedMessage], set[str], set[str]]:
    """A World Cup's first week (never quoted), a league season whose fixtures after a season's
    worth of results lose their odds, and a week of NBA games, every other one without a line;
    returns the messages, the unquoted league fixtures and the unquoted NBA games."""
    world_cup = Replay(DATA, since=date(2018, 6, 14), until=date(2018, 6, 22)).messages("worldcup")
    league, withheld = epl_autumn_2018()
    nba = list(Replay(DATA, since=date(2018, 11, 20), until=date(2018, 11, 26)).messages("nba"))
    no_line = set(sorted({m.partition for m in nba})[::2])
    kept = [
        m for m in [*league, *nba] if not (m.kind == "odds" and m.partition in withheld | no_line)
    ]
    return [*world_cup, *kept], withheld, no_line


@dataclass(frozen=True)
class MarketFreeLog:
    env: dict[str, str]  # the CLI's
    issued: list[FixtureForecasts.ForecastIssued]
    withheld: set[str]  # league fixtures nobody quoted
    no_line: set[str]  # NBA games nobody quoted
    football_hash: str


@pytest.fixture(scope="module")
def market_free_log(
    nats_server: EmbeddedNats,
    football_model: LoadedModel,  # noqa: F811
    inplay_model: LoadedInPlayModel,  # noqa: F811
) -> MarketFreeLog:
    url = nats_server.url
    name = f"T{uuid.uuid4().hex[:12].upper()}"
    events, forecasts, bucket = name, f"{name}_F", f"{name}_MODELS"
    football = dump_model(football_model.model)
    inplay = dump_inplay_model(inplay_model.model)
    loaded_nba = nba_models()
    nba = dump_nba_models(loaded_nba.pregame, loaded_nba.inplay, loaded_nba.market_free)
    archive(url, bucket, [football, inplay, nba])  # as `sportcast up` does with every model
    messages, withheld, no_line = _feed()
    env = stored(url, events, messages)
    issued = follow(
        env,
        forecasts,
        LoadedModel.from_bytes(football),
        inplay_model=LoadedInPlayModel.from_bytes(inplay),
        nba_models=LoadedNbaModels.from_bytes(nba),
    )
    cli_env = {
        "SPORTCAST_STREAM_NAME": events,
        "SPORTCAST_FORECASTER_STREAM": forecasts,
        "SPORTCAST_MODEL_BUCKET": bucket,
        "NATS_URL": url,
    }
    return MarketFreeLog(cli_env, issued, withheld, no_line, hashlib.sha256(football).hexdigest())


def rebuild(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(
        app, ["audit", "rebuild-features", "--nats-url", env["NATS_URL"], "--json", *args], env=env
    )
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    return result.exit_code, json.loads(result.stdout)


def test_market_free_forecasts_rebuild_to_the_recorded_features(
    market_free_log: MarketFreeLog,
) -> None:
    log = market_free_log
    env, issued, withheld = log.env, log.issued, log.withheld
    free = [f for f in issued if f.prior == MARKET_FREE_PRIOR]
    kickoffs = [f for f in free if f.trigger == KICK_OFF]
    # Both market-free kinds are in the log, and in-play rows that start from each.
    assert {str(f.fixture_id) for f in kickoffs} >= withheld
    assert any("elo_expected_score" in f.features for f in kickoffs)  # World Cup
    assert any("home_expected_goals" in f.features for f in kickoffs)  # league, unquoted
    live_free = {str(f.fixture_id) for f in free if f.trigger == IN_MATCH_EVENT}
    assert live_free & withheld
    assert live_free - withheld
    nba_quarters = [f for f in free if "pregame_home" in f.features]
    assert {str(f.fixture_id) for f in nba_quarters} == log.no_line

    code, report = rebuild(env)
    assert report["drifts"] == []
    assert report["not_rebuildable"] == []
    assert code == 0
    assert report["checked"] == len(issued)  # none skipped: no promotion in this log
    assert report["ok"] is True

    # The timeline says which prior each forecast started from.
    fixture = sorted(withheld)[0]
    result = runner.invoke(
        app, ["audit", "timeline", fixture, "--nats-url", env["NATS_URL"], "--json"], env=env
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    shown = [e for e in json.loads(result.stdout)["entries"] if e["kind"] == "forecast"]
    recorded = [f for f in issued if str(f.fixture_id) == fixture]
    assert [(e["trigger"], e["prior"]) for e in shown] == [(f.trigger, f.prior) for f in recorded]
    assert {e["prior"] for e in shown} == {MARKET_FREE_PRIOR}
    # ... and settles them, with no market to compare (it crashed on the empty market).
    settled = [e for e in json.loads(result.stdout)["entries"] if e["kind"] == "settlement"]
    assert len(settled) == len(shown)
    assert all(0.0 <= e["rps"] <= 1.0 and e["market_rps"] is None for e in settled)


def test_a_changed_market_free_feature_is_caught(
    market_free_log: MarketFreeLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, withheld = market_free_log.env, market_free_log.withheld
    original = FeatureBuilder.results_features

    def drifted(self: FeatureBuilder, fixture_id: str) -> ResultsFeatures:
        row = original(self, fixture_id)
        # A home/away mix-up in the feature code.
        return replace(row, poisson_home=row.poisson_away, poisson_away=row.poisson_home)

    monkeypatch.setattr(FeatureBuilder, "results_features", drifted)
    code, report = rebuild(env)
    assert code == 1
    drifts = report["drifts"]
    drifted_fixtures = {d["fixture_id"] for d in drifts}
    assert drifted_fixtures == withheld  # every unquoted league fixture, nothing else
    kickoff_drifts = [d for d in drifts if "poisson_home" in d["differences"]]
    assert len(kickoff_drifts) == len(withheld)
    # Their in-play rows start from the market-free forecast of the drifted row.
    assert any(set(d["differences"]) >= {"prior_home"} for d in drifts)

    monkeypatch.undo()
    expected_score = EloPrior.expected_score

    def shifted(
        self: EloPrior, pool: str, home: str, away: str, venue_country: str | None = None
    ) -> float:
        return float(expected_score(self, pool, home, away, venue_country)) + 0.01

    monkeypatch.setattr(EloPrior, "expected_score", shifted)
    code, report = rebuild(env)
    assert code == 1
    drifts = report["drifts"]
    assert drifts
    # World Cup matches only (the unquoted league fixtures read the market-free model instead).
    assert {d["fixture_id"] for d in drifts}.isdisjoint(withheld | market_free_log.no_line)
    assert any("elo_expected_score" in d["differences"] for d in drifts)


def test_forecasts_of_a_changed_artifact_are_listed_as_not_rebuildable(
    market_free_log: MarketFreeLog,
) -> None:
    log = market_free_log
    bucket = log.env["SPORTCAST_MODEL_BUCKET"]

    async def swap(new: bytes | None) -> bytes:
        nc = await connect_nats(log.env["NATS_URL"], reconnect=False)
        try:
            store = await nc.jetstream().object_store(bucket)
            old = bytes((await store.get(log.football_hash)).data or b"")
            if new is not None:
                await store.put(log.football_hash, new)
            return old
        finally:
            await nc.close()

    original = asyncio.run(swap(None))
    asyncio.run(swap(original[:-1] + bytes([original[-1] ^ 1])))
    try:
        code, report = rebuild(log.env)
    finally:
        asyncio.run(swap(original))
    assert code == 1
    assert report["ok"] is False
    cited = [f for f in log.issued if f.artifact_hash == log.football_hash]
    assert cited
    listed = report["not_rebuildable"]
    assert sorted(n["fixture_id"] for n in listed) == sorted(str(f.fixture_id) for f in cited)
    assert all(n["reason"].startswith("not rebuildable: ") for n in listed)
    assert all("changed after it was stored" in n["reason"] for n in listed)
    assert report["checked"] + len(listed) == len(log.issued)  # none counted as matching


def test_every_forecast_of_the_log_rederives_bit_for_bit(market_free_log: MarketFreeLog) -> None:
    """The forecaster followed the whole log in batches (in-play drafts of several matches in
    one call): every forecast, in-play ones included, is what its recorded row gives."""
    env = market_free_log.env
    streams = [env["SPORTCAST_STREAM_NAME"], env["SPORTCAST_FORECASTER_STREAM"]]
    result = runner.invoke(  # this log's streams only: the session's server holds others too
        app,
        ["audit", "verify", "--nats-url", env["NATS_URL"], "--json"]
        + [option for name in streams for option in ("--stream", name)],
        env=env,
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    live = [f for f in market_free_log.issued if f.trigger == IN_MATCH_EVENT]
    assert len(live) > 100
    assert report["forecasts"]["checked"] == len(market_free_log.issued)
    assert report["forecasts"]["mismatches"] == []
    assert report["ok"] is True
