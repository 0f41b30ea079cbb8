"""Model artifacts: the same trained model gives the same bytes, hence the same hash."""

from __future__ import annotations

import hashlib
import time
from dataclasses import fields, replace

import numpy as np
import pytest
from typer.testing import CliRunner

from forecasting.football.features import FootballFeatures
from forecasting.football.market_free import (
    MarketFreeParameters,
    ResultsFeatures,
    train_market_free_model,
)
from forecasting.football.model import FootballModelParameters, train_football_model
from forecasting.inplay.model import CARRY_OVER, HOST_ADVANTAGE, MatchState
from forecasting.nba.inplay import NbaInPlayModel, QuarterFit
from forecasting.nba.model import NbaModel
from infra import cli_model
from infra.forecasting.model_file import (
    INPLAY_FORMAT,
    LoadedInPlayModel,
    LoadedModel,
    dump_inplay_model,
    dump_model,
    load_inplay_model,
)
from infra.forecasting.nba_model_file import NBA_FORMAT, dump_nba_models
from tests.small_models import as_inplay_format_1, as_inplay_format_2, small_inplay_model

PRIOR = (0.4, 0.3, 0.3)


def train_once() -> bytes:
    rng = np.random.default_rng(3)
    width = len(fields(FootballFeatures))
    x = rng.normal(size=(400, width))
    x[:, :3] = rng.dirichlet([4, 3, 3], size=400)
    y = np.array([rng.choice(3, p=p) for p in x[:, :3]])
    rows = [FootballFeatures(*map(float, r)) for r in x]
    params = FootballModelParameters(max_iterations=20, early_stopping_rounds=5)
    return dump_model(train_football_model(rows[:300], y[:300], rows[300:], y[300:], params))


def test_retraining_with_the_same_data_and_seed_gives_the_same_artifact_hash() -> None:
    first = train_once()
    time.sleep(1.1)  # CatBoost records the second training finished in
    second = train_once()
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()
    assert (
        LoadedModel.from_bytes(first).artifact_hash == LoadedModel.from_bytes(second).artifact_hash
    )


def test_the_market_free_model_travels_in_the_football_artifact() -> None:
    """Format 3: the results-only model rides with the market model and forecasts as it did
    before it was written; a format-2 file (the same bytes without it) still loads, without
    one; an artifact without it refuses market-free forecasts."""
    rng = np.random.default_rng(4)
    width = len(fields(ResultsFeatures))
    x = rng.normal(size=(400, width))
    x[:, :3] = rng.dirichlet([4, 3, 3], size=400)
    y = np.array([rng.choice(3, p=p) for p in x[:, :3]])
    rows = [ResultsFeatures(*map(float, r)) for r in x]
    params = MarketFreeParameters(max_iterations=20, early_stopping_rounds=5)
    free = train_market_free_model(rows[:300], y[:300], rows[300:], y[300:], params)
    without = LoadedModel.from_bytes(train_once()).model
    data = dump_model(replace(without, market_free=free))
    assert data.startswith(b"SPORTCAST-MODEL-3\n")
    loaded = LoadedModel.from_bytes(data)
    assert loaded.market_free_id == f"football-market-free-{loaded.artifact_hash[:12]}"
    assert np.array_equal(
        np.array(loaded.predict_market_free(rows[300:])), free.predict_proba(rows[300:])
    )
    assert loaded.model.market_free is not None
    assert loaded.model.market_free.trees == free.trees
    plain = train_once()
    as_format_2 = LoadedModel.from_bytes(
        b"SPORTCAST-MODEL-2\n" + plain[len(b"SPORTCAST-MODEL-3\n") :]
    )
    assert as_format_2.market_free_id is None
    with pytest.raises(ValueError, match="no market-free model"):
        as_format_2.predict_market_free(rows[:1])


def test_the_inplay_artifact_records_its_elo_prior_and_earlier_formats_still_load() -> None:
    """Format 3 records the carry-over and host advantage its Elo prior was trained with;
    format-2 and format-1 files (the same model written before, without them) load with what
    they were trained on, (CARRY_OVER, 0) and (1, 0), and forecast exactly as before."""
    model = load_inplay_model(small_inplay_model())
    data = dump_inplay_model(model)
    assert data.startswith(b"SPORTCAST-INPLAY-3\n")
    assert LoadedInPlayModel.from_bytes(data).elo_prior == (CARRY_OVER, HOST_ADVANTAGE)
    format_2 = as_inplay_format_2(data)
    format_1 = as_inplay_format_1(format_2)
    states = [MatchState(30, 1, 0, 0, 0, (0.5, 0.3, 0.2)), MatchState(75, 0, 0, 0, 1, PRIOR)]
    for old_bytes, prior in ((format_2, (CARRY_OVER, 0.0)), (format_1, (1.0, 0.0))):
        old = LoadedInPlayModel.from_bytes(old_bytes)
        assert old.elo_prior == prior
        assert (old.draw_peak, old.elo_scale) == (model.draw_peak, model.elo_scale)
        assert old.predict_many(states) == LoadedInPlayModel.from_bytes(data).predict_many(states)
    with pytest.raises(ValueError, match="not a sportcast in-play artifact"):
        load_inplay_model(b"SPORTCAST-INPLAY-4\n" + data[len(b"SPORTCAST-INPLAY-3\n") :])


def test_the_train_commands_name_the_format_they_write() -> None:
    """`train-nba --out` and `train-inplay --out` say which format the file will be in: the
    one the dump functions write (the NBA help named format 1 after format 2 came)."""
    nba = dump_nba_models(
        NbaModel(booster=None, trees=0, validation_gain=0.0),
        NbaInPlayModel(fits={q: QuarterFit(1.0, 0.1, 0.0) for q in (1, 2, 3)}),
    )
    assert nba.startswith(NBA_FORMAT.encode() + b"\n")
    assert small_inplay_model().startswith(INPLAY_FORMAT.encode() + b"\n")
    runner = CliRunner()
    for command, written in (("train-nba", NBA_FORMAT), ("train-inplay", INPLAY_FORMAT)):
        result = runner.invoke(cli_model.app, [command, "--help"], env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        assert f"({written})" in result.output
