"""The sports we cover and the two sides of a fixture."""

from __future__ import annotations

from enum import StrEnum


class Sport(StrEnum):
    FOOTBALL = "football"
    BASKETBALL = "basketball"


class Side(StrEnum):
    HOME = "home"
    AWAY = "away"
