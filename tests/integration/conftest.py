"""Fixtures shared by the integration tests (the session's servers are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sse_support import Writers


@pytest.fixture
def writers(nats_url: str, unique_name: str) -> Iterator[Writers]:
    """Fixtures, quotes, match events and forecasts written into a fresh pair of streams."""
    w = Writers(nats_url, unique_name + "E", unique_name + "F")
    yield w
    w.close()
