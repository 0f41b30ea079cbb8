"""Paired bootstrap, score cards and the evaluation report, on synthetic forecasts."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from forecasting.football.evaluation import (
    ScoreCard,
    SeasonForecast,
    directional_accuracy,
    paired_bootstrap,
)
from forecasting.football.features import FootballFeatures
from forecasting.football.inputs import FixtureAnnounced
from forecasting.football.training_set import TrainingRow, closing_probabilities
from infra.forecasting.report import build_report, write_report


def test_bootstrap_interval_covers_a_known_difference() -> None:
    rng = np.random.default_rng(1)
    shared = rng.gamma(2.0, 0.1, size=2000)  # match difficulty, common to both forecasters
    model = shared + rng.normal(0.0, 0.01, size=2000)
    market = shared + 0.005 + rng.normal(0.0, 0.01, size=2000)

    diff = paired_bootstrap(model, market, resamples=1000, seed=3)

    assert diff.low < -0.005 < diff.high
    assert diff.high < 0.0  # paired: the shared noise cancels, so the difference is resolved
    assert diff.high - diff.low < 0.003


def test_bootstrap_interval_straddles_zero_when_there_is_no_difference() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.2, 0.05, size=500), rng.normal(0.2, 0.05, size=500)

    diff = paired_bootstrap(a, b)

    assert diff.low < 0.0 < diff.high
    assert diff == paired_bootstrap(a, b)  # fixed seed: the same interval every run


def test_bootstrap_refuses_unpaired_losses() -> None:
    with pytest.raises(ValueError, match="equally long"):
        paired_bootstrap(np.zeros(3), np.zeros(4))


def test_directional_accuracy_ignores_draws() -> None:
    p = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    y = np.array([0, 0, 1])  # right, wrong, draw (ignored)

    assert directional_accuracy(p, y) == pytest.approx(0.5)


def _rows(n: int, season: str, rng: np.random.Generator) -> list[TrainingRow]:
    width = len(fields(FootballFeatures))
    start = datetime(2019, 8, 1, 15, tzinfo=UTC)
    rows = []
    for i in range(n):
        x = rng.normal(size=width)
        x[:3] = rng.dirichlet([4, 3, 3])
        fixture = FixtureAnnounced(
            f"{season}-{i}", f"league-{i % 2}", season, f"H{i}", f"A{i}", start + timedelta(days=i)
        )
        closing = tuple(float(v) for v in 1.05 / rng.dirichlet([4, 3, 3]))
        rows.append(
            TrainingRow(fixture, FootballFeatures(*map(float, x)), closing, int(rng.choice(3)))  # type: ignore[arg-type]
        )
    return rows


def test_report_holds_every_metric_for_model_and_both_markets(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    seasons = []
    for season in ("2019-2020", "2020-2021"):
        rows = _rows(60, season, rng)
        probabilities = np.array([r.features.market_probabilities() for r in rows])
        closing = closing_probabilities(rows)
        seasons.append(
            SeasonForecast(
                season,
                rows,
                probabilities,
                100,
                10,
                1.0,
                at_close=closing,
                # league-1's market-free forecast is its closing market, league-0's uniform
                market_free=np.array(
                    [
                        c if r.competition == "league-1" else np.full(3, 1.0 / 3.0)
                        for r, c in zip(rows, closing, strict=True)
                    ]
                ),
                corrections_kept={"odds-open": True, "closing": False},
            )
        )

    written = write_report(build_report(seasons, {"test": True}, resamples=50), tmp_path / "r")

    names = {p.name for p in written}
    assert names == {"report.json", "report.md", "calibration.png", "rps_by_season.png"}
    for path in written:
        assert path.stat().st_size > 0
    assert (tmp_path / "r" / "calibration.png").read_bytes()[:4] == b"\x89PNG"
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    metrics = {f.name for f in fields(ScoreCard)}
    assert metrics == {"n", "rps", "log_loss", "brier", "accuracy", "directional_accuracy", "ece"}
    groups = [report["overall"], *report["by_season"].values(), *report["by_competition"].values()]
    assert set(report["by_competition"]) == {"league-0", "league-1"}
    for group in groups:
        for who in ("model", "opening_market", "closing_market"):
            assert set(group[who]) == metrics
            assert all(isinstance(group[who][m], float) for m in metrics - {"n"})
        for market in ("model_minus_opening", "model_minus_closing"):
            for metric in ("rps", "log_loss"):
                ci = group[market][metric]
                assert ci["low"] <= ci["estimate"] <= ci["high"]
    # the model here *is* the opening market: the difference is exactly zero
    assert report["overall"]["model_minus_opening"]["rps"]["estimate"] == 0.0
    # at the closing quote the forecast here is the closing market: again exactly zero
    at_close = report["stages"]["at the closing quote"]
    assert set(at_close) == {"overall", "2019-2020", "2020-2021", "league-0", "league-1"}
    assert at_close["overall"]["model_minus_closing"]["rps"]["estimate"] == 0.0
    free = report["stages"]["market-free"]
    assert free["overall"]["model"]["rps"] > 0.0
    # by competition: each league's own matches (league-1's forecast is its closing market)
    assert free["league-1"]["model_minus_closing"]["rps"]["estimate"] == 0.0
    assert free["league-0"]["model_minus_closing"]["rps"]["estimate"] != 0.0
    for league in ("league-0", "league-1"):
        n = sum(r.competition == league for s in seasons for r in s.rows)
        assert free[league]["model"]["n"] == n > 0
    assert (
        "| league-0 | model |"
        in (tmp_path / "r" / "report.md").read_text().split("## Market-free")[1]
    )
    assert report["corrections_kept"]["2020-2021"] == {"odds-open": True, "closing": False}
    text = (tmp_path / "r" / "report.md").read_text()
    assert "## At the closing quote" in text
    assert "## Market-free" in text
