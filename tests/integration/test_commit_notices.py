"""A projection commit's NOTIFY names the fixtures it changed, so that the gateway drops only
their latest-forecast copies (docs/adr/0029); real PostgreSQL, the forecasts projection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import asyncpg
import orjson
from eventsourcing.persistence import Notification

from projections.forecasts import ISSUED, ForecastsProjection
from projections.log import Page
from readmodels.postgres.positions import CHANNEL, NOTIFIED_KEYS, CommitNotice

MOMENT = {"_type_": "datetime_iso", "_data_": "2026-12-05T15:00:00+00:00"}


def issued(position: int, fixture: uuid.UUID) -> Notification:
    """A stored ForecastIssued as the forecaster's transcoder writes it."""
    state = {
        "fixture_id": {"_type_": "uuid_hex", "_data_": fixture.hex},
        "model_id": "football-1x2-abc",
        "market": "1x2",
        "timestamp": MOMENT,
        "kickoff": MOMENT,
        "trigger": "odds",
        "artifact_hash": "sha256:abc",
        "outcomes": ["home", "draw", "away"],
        "probabilities": [0.5, 0.3, 0.2],
        "market_probabilities": [0.5, 0.3, 0.2],
        "edge": [0.0, 0.0, 0.0],
        "as_of_position": position,
        "features": {},
    }
    return Notification(
        id=position,
        originator_id=uuid.uuid4(),
        originator_version=position,
        topic=ISSUED[0],
        state=orjson.dumps(state),
    )


async def notices_of(postgres_url: str, pages: Sequence[Page]) -> list[CommitNotice]:
    projection = ForecastsProjection(postgres_url)
    await projection.open()
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(postgres_url)
    await listener.add_listener(CHANNEL, lambda *args: heard.put_nowait(args[-1]))
    try:
        after = 0
        for page in pages:
            await projection.apply("forecasts", after, page)
            after = page.through
        async with asyncio.timeout(20):
            return [CommitNotice.parse(await heard.get()) for _ in pages]
    finally:
        await listener.close()
        await projection.close()


async def test_a_forecasts_commit_names_the_fixtures_it_changed(postgres_url: str) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    many = [uuid.uuid4() for _ in range(NOTIFIED_KEYS + 1)]
    pages = [
        Page([issued(1, a), issued(2, a), issued(3, b)], through=3, at_head=False),
        Page([], through=5, at_head=False),  # only other topics: nothing changed
        Page([issued(6 + i, f) for i, f in enumerate(many)], through=6 + len(many), at_head=True),
    ]
    two, none, too_many = await notices_of(postgres_url, pages)
    assert (two.projection, two.stream, two.position) == ("forecasts", "forecasts", 3)
    assert two.keys == {str(a), str(b)}
    assert none.position == 5
    assert none.keys == frozenset()
    assert too_many.position == 6 + len(many)
    assert too_many.keys is None  # more than a notice holds: it may have changed anything
