"""The in-play model trained from a replayed window in the real event store, end to end.

The 2018 World Cup (goal and card timelines, no odds) and a few days of league football (odds,
half-time scores) are replayed into a real nats-server; `sportcast model train-inplay` reads them
back from the store only and writes an artifact the forecaster can load. Expected counts come
from the dataset readers, not from the code under test.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import nats
import pytest
from typer.testing import CliRunner

from commands.ingestion import FeedIngestion
from forecasting.inplay.model import SAMPLED_MINUTES, MatchState
from infra.bootstrap import event_store_env
from infra.cli_model import app
from infra.feeds.datasets import MalformedRow, read_football, read_worldcup_matches
from infra.feeds.player import PlayReport
from infra.feeds.replay import Replay
from infra.forecasting.artifacts import ArtifactStore, content_hash
from infra.forecasting.history import max_position, position_before
from infra.forecasting.inplay_history import read_training_set, train_to_file
from infra.forecasting.model_file import LoadedInPlayModel
from infra.settings import Settings
from tests.replaying import play

pytestmark = pytest.mark.slow

WORLD_CUP = (date(2018, 6, 14), date(2018, 7, 15))
LEAGUES = (date(2018, 8, 10), date(2018, 8, 19))
EVEN = (0.4, 0.3, 0.3)


@pytest.fixture
def data_dir() -> Path:
    settings = Settings()
    if not (settings.data_dir / "worldcup" / "matches.csv").exists():
        pytest.skip(f"no datasets at {settings.data_dir} (set SPORTCAST_DATA_DIR)")
    return settings.data_dir


def replay(settings: Settings, url: str, source: str, window: tuple[date, date]) -> PlayReport:
    return play(settings, url, source, Replay(settings.data_dir, since=window[0], until=window[1]))


def test_train_inplay_from_a_replayed_world_cup_and_league_window(
    data_dir: Path,
    nats_url: str,
    unique_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(data_dir=data_dir, stream_name=unique_name)
    world_cup = [
        m
        for m in read_worldcup_matches(data_dir)
        if not isinstance(m, MalformedRow) and WORLD_CUP[0] <= m.match_date <= WORLD_CUP[1]
    ]
    league = [
        r
        for r in read_football(data_dir)
        if not isinstance(r, MalformedRow)
        and LEAGUES[0] <= r.kickoff.date() <= LEAGUES[1]
        and None not in (r.home_goals, r.away_goals, r.home_goals_ht, r.away_goals_ht)
    ]
    assert len(world_cup) == 64

    assert not replay(settings, nats_url, "worldcup", WORLD_CUP).refused
    feeds = FeedIngestion(event_store_env(settings, nats_url))
    try:
        after_world_cup = max_position(feeds)
        assert not replay(settings, nats_url, "football", LEAGUES).refused

        only_world_cup = read_training_set(feeds, cutoff=after_world_cup)
        assert (only_world_cup.matches, only_world_cup.skipped) == (64, 0)
        assert len(only_world_cup.samples) == 64 * len(SAMPLED_MINUTES)
        assert not any(s.market for s in only_world_cup.samples)

        artifact = train_to_file(feeds, tmp_path / "direct" / "inplay.cbm")
    finally:
        feeds.close()

    data = artifact.training.data
    assert artifact.cutoff_position > after_world_cup
    assert (data.matches, data.skipped) == (64 + len(league), 0)
    halves = [s for s in data.samples if s.market]
    assert len(halves) == len(league)  # every league match has odds: one half-time state each
    assert {s.state.minute for s in halves} == {45}
    assert len(data.samples) == 64 * len(SAMPLED_MINUTES) + len(league)
    assert artifact.training.training_rows + artifact.training.holdout_rows == len(data.samples)
    assert artifact.training.holdout_log_loss["model"] < 1.2

    loaded = LoadedInPlayModel.from_bytes(artifact.path.read_bytes())
    states = [
        MatchState(0, 0, 0, 0, 0, EVEN),
        MatchState(85, 2, 0, 0, 0, EVEN),
        MatchState(85, 0, 2, 0, 0, EVEN),
        MatchState(45, 1, 1, 1, 0, EVEN),
    ]
    kickoff, home_ahead, away_ahead, _ = predicted = loaded.predict_many(states)
    for row in predicted:
        assert sum(row) == pytest.approx(1.0)
        assert all(0.0 < p < 1.0 for p in row)
    assert home_ahead[0] > 0.8 > kickoff[0]
    assert away_ahead[2] > 0.8 > kickoff[2]

    # The command: same store, same data, an artifact the forecaster can load.
    monkeypatch.setenv("SPORTCAST_NATS_URL", nats_url)
    monkeypatch.setenv("SPORTCAST_STREAM_NAME", unique_name)
    out = tmp_path / "cli" / "inplay.cbm"
    result = CliRunner().invoke(app, ["train-inplay", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"matches    {64 + len(league)} " in result.output
    assert f"position {artifact.cutoff_position}" in result.output
    assert LoadedInPlayModel.from_bytes(out.read_bytes()).predict_many(states[:1])
    assert [p.name for p in out.parent.iterdir()] == ["inplay.cbm"]  # no temporary file left
    # ... and the same bytes in the object store under their hash, where an auditor looks.
    digest = content_hash(out.read_bytes())
    assert f"stored artifact {digest}" in result.output
    assert asyncio.run(stored_artifact(nats_url, digest)) == out.read_bytes()

    result = CliRunner().invoke(app, ["train-inplay", "--out", str(out), "--cutoff-position", "1"])
    assert result.exit_code == 2
    assert "too few" in result.output

    # Into the registry instead: trained with an untouched holdout, registered, promoted.
    monkeypatch.setenv("SPORTCAST_MODEL_REGISTRY_STREAM", unique_name + "_R")
    result = CliRunner().invoke(app, ["train", "--kind", "football-inplay"])
    assert result.exit_code == 0, result.output
    (model_id,) = re.findall(r"registered (football-inplay-[0-9a-f]{12})", result.output)
    assert "holdout    latest-20%:" in result.output
    assert "log_loss " in result.output
    result = CliRunner().invoke(app, ["promote", model_id])
    assert result.exit_code == 0, result.output
    assert f"football-inplay champion {model_id}" in result.output
    listed = CliRunner().invoke(app, ["list"])
    assert listed.exit_code == 0, listed.output
    listed = listed.output
    assert re.search(rf"\*\s+.*{model_id}", listed), listed
    assert "…" not in listed  # not a terminal: no column cut short
    as_json = CliRunner().invoke(app, ["list", "--json"])
    assert as_json.exit_code == 0, as_json.output
    (record,) = json.loads(as_json.output)
    assert (record["model_id"], record["kind"], record["champion"]) == (
        model_id,
        "football-inplay",
        True,
    )
    assert record["holdout_metrics"]["log_loss"] == record["holdout_score"]
    result = CliRunner().invoke(
        app,
        ["train", "--kind", "football-inplay", "--until", "2018-06-20", "--cutoff-position", "9"],
    )
    assert result.exit_code == 2
    assert "model-input" in result.output

    # --until DATE: the log as of that date, before the league's first kick-off (World Cup only).
    feeds = FeedIngestion(event_store_env(settings, nats_url))
    try:
        as_of = position_before(feeds, datetime(2018, 8, 1, tzinfo=UTC))
    finally:
        feeds.close()
    assert after_world_cup <= as_of < record["cutoff_position"]
    result = CliRunner().invoke(
        app, ["train", "--kind", "football-inplay", "--until", "2018-08-01"]
    )
    assert result.exit_code == 0, result.output
    assert f"cut-off    position {as_of}\n" in result.output
    (earlier,) = re.findall(r"registered (football-inplay-[0-9a-f]{12})", result.output)
    models = json.loads(CliRunner().invoke(app, ["list", "--json"]).output)
    assert {m["model_id"]: m["cutoff_position"] for m in models}[earlier] == as_of
    for wrong, code in (
        (["train", "--kind", "cricket"], "unknown-model-kind"),
        (["train", "--kind", "nba", "--holdout-season", "2018"], "model-input"),
    ):
        result = CliRunner().invoke(app, wrong)
        assert result.exit_code == 2
        assert code in result.output


async def stored_artifact(nats_url: str, digest: str) -> bytes:
    nc = await nats.connect(nats_url)
    try:
        return await ArtifactStore(nc.jetstream(), bucket=Settings().model_bucket).get(digest)
    finally:
        await nc.close()
