"""Small real models for tests that need forecasts but not good ones."""

from __future__ import annotations

import json
from dataclasses import fields, replace

import numpy as np

from forecasting.football.features import FootballFeatures
from forecasting.football.model import FootballModelParameters, train_football_model
from forecasting.inplay.model import (
    CARRY_OVER,
    HOST_ADVANTAGE,
    InPlayParameters,
    MatchState,
    baseline_proba,
    train_inplay_model,
)
from infra.forecasting.model_file import dump_inplay_model, dump_model


def small_football_model() -> bytes:
    """A real CatBoost 1X2 model trained on synthetic rows (quality is not under test)."""
    rng = np.random.default_rng(7)
    width = len(fields(FootballFeatures))

    def rows(n: int) -> tuple[list[FootballFeatures], np.ndarray]:
        x = rng.normal(size=(n, width))
        x[:, :3] = rng.dirichlet([4, 3, 3], size=n)  # market probabilities
        outcomes = np.array([rng.choice(3, p=p) for p in x[:, :3]])
        return [FootballFeatures(*map(float, r)) for r in x], outcomes

    train, train_y = rows(600)
    hold, hold_y = rows(200)
    params = FootballModelParameters(max_iterations=40, early_stopping_rounds=10)
    return dump_model(train_football_model(train, train_y, hold, hold_y, params))


def small_inplay_model() -> bytes:
    """A real CatBoost in-play model on synthetic states (its quality is not under test)."""
    rng = np.random.default_rng(11)
    states = [
        MatchState(
            minute=int(rng.integers(0, 91)),
            home_goals=int(rng.integers(0, 4)),
            away_goals=int(rng.integers(0, 4)),
            home_reds=int(rng.integers(0, 2)),
            away_reds=int(rng.integers(0, 2)),
            prior=tuple(float(p) for p in rng.dirichlet([4, 3, 3])),  # type: ignore[arg-type]
        )
        for _ in range(700)
    ]
    outcomes = np.array([rng.choice(3, p=p) for p in baseline_proba(states)])
    params = InPlayParameters(max_iterations=30, early_stopping_rounds=10)
    model = train_inplay_model(states[:500], outcomes[:500], states[500:], outcomes[500:], params)
    # As training sets it.
    return dump_inplay_model(
        replace(model, elo_carry_over=CARRY_OVER, elo_host_advantage=HOST_ADVANTAGE)
    )


def _rewritten(data: bytes, magic: bytes, new_magic: bytes, dropped: str) -> bytes:
    rest = data[len(magic) :]
    size = int.from_bytes(rest[:4], "big")
    header = json.loads(rest[4 : 4 + size])
    del header[dropped]
    encoded = json.dumps(header).encode()
    return new_magic + len(encoded).to_bytes(4, "big") + encoded + rest[4 + size :]


def as_inplay_format_2(data: bytes) -> bytes:
    """An in-play artifact as format 2 wrote it: its own magic, no host advantage."""
    return _rewritten(data, b"SPORTCAST-INPLAY-3\n", b"SPORTCAST-INPLAY-2\n", "elo_host_advantage")


def as_inplay_format_1(data: bytes) -> bytes:
    """A format-2 in-play artifact as format 1 wrote it: its own magic, no carry-over."""
    return _rewritten(data, b"SPORTCAST-INPLAY-2\n", b"SPORTCAST-INPLAY-1\n", "elo_carry_over")
