"""Which model artifacts the audit's replaying forecaster holds at each feed position."""

from __future__ import annotations

from uuid import uuid4

import pytest

from commands.forecasting.drafts import KICK_OFF, MODEL_PROMOTED
from forecasting.inplay.model import CARRY_OVER, HOST_ADVANTAGE
from infra.audit.models_in_force import ModelsInForce
from infra.audit.rederive import RecordedForecast
from infra.forecasting.artifacts import ArtifactIntegrityError
from tests.small_models import (
    as_inplay_format_1,
    as_inplay_format_2,
    small_football_model,
    small_inplay_model,
)

# Artifacts by the hash the forecasts name (the store checked the bytes against it).
FOOTBALL, PROMOTED, INPLAY, INPLAY_1 = "f" * 64, "p" * 64, "i" * 64, "1" * 64
INPLAY_2 = "2" * 64


def forecast(position: int, as_of: int, name: str, trigger: str = "odds-moved") -> RecordedForecast:
    return RecordedForecast(position, uuid4(), trigger, "m", name, {}, (), as_of, ())


@pytest.fixture(scope="module")
def stored() -> dict[str, bytes | ArtifactIntegrityError]:
    football = small_football_model()
    inplay = small_inplay_model()
    return {
        FOOTBALL: football,
        PROMOTED: football,
        INPLAY: inplay,
        INPLAY_1: as_inplay_format_1(as_inplay_format_2(inplay)),
        INPLAY_2: as_inplay_format_2(inplay),
    }


def test_each_kind_is_the_last_named_at_or_before_a_position_and_re_issues_count_after(
    stored: dict[str, bytes | ArtifactIntegrityError],
) -> None:
    issued = [
        forecast(1, 10, FOOTBALL),
        forecast(2, 20, INPLAY, KICK_OFF),
        forecast(3, 30, FOOTBALL),
        forecast(4, 30, PROMOTED, MODEL_PROMOTED),  # promoted after 30 was drafted
        forecast(5, 40, PROMOTED),
    ]
    held = ModelsInForce.of(issued, stored)
    assert held.unusable == {}
    assert (held.at(9).football, held.at(9).inplay, held.at(9).nba) == (None, None, None)
    first = held.at(10).football
    assert first is not None
    assert held.at(19).inplay is None
    assert held.at(20).inplay is not None
    assert held.at(30).football is first
    promoted = held.at(31).football
    assert promoted is not None
    assert promoted is not first
    assert held.at(10**9).football is promoted
    assert held.at(10**9).inplay is held.at(20).inplay
    assert held.at(10**9).nba is None


def test_an_artifact_that_changed_or_is_of_no_known_kind_is_unusable_with_its_reason(
    stored: dict[str, bytes | ArtifactIntegrityError],
) -> None:
    changed = ArtifactIntegrityError("stored bytes hash to something else")
    held = ModelsInForce.of(
        [forecast(1, 10, "a" * 64), forecast(2, 11, "b" * 64)],
        {"a" * 64: changed, "b" * 64: b"NOT-A-MODEL\n"},
    )
    assert set(held.unusable) == {"a" * 64, "b" * 64}
    assert "changed after it was stored" in held.unusable["a" * 64]
    assert "unknown kind" in held.unusable["b" * 64]
    assert held.at(11).football is None


def test_every_inplay_format_is_held_with_the_elo_prior_it_was_trained_on(
    stored: dict[str, bytes | ArtifactIntegrityError],
) -> None:
    """Formats 1 and 2 (written before the Elo prior regressed between editions, and before
    it gave hosts a home advantage) stay usable, so forecasts made under them are rebuilt with
    the expected scores they were given."""
    held = ModelsInForce.of(
        [
            forecast(1, 10, INPLAY_1, KICK_OFF),
            forecast(2, 20, INPLAY_2, KICK_OFF),
            forecast(3, 30, INPLAY, KICK_OFF),
        ],
        stored,
    )
    assert held.unusable == {}
    models = [held.at(position).inplay for position in (10, 20, 30)]
    assert [m.elo_prior if m is not None else None for m in models] == [
        (1.0, 0.0),
        (CARRY_OVER, 0.0),
        (CARRY_OVER, HOST_ADVANTAGE),
    ]
