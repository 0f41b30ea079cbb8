"""The player keeps each fixture's order and never lets the feed stray far from event order."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from commands.fixture import StartFixture
from commands.ingestion import Accepted, FeedCommand
from domain.errors import DomainError
from domain.provenance import Provenance
from infra.feeds.messages import FeedMessage
from infra.feeds.player import FeedPlayer

T0 = datetime(2016, 1, 1, tzinfo=UTC)


class SlowLanesIntake:
    """Applies commands after random delays, recording the order they were stored in."""

    def __init__(self) -> None:
        self.stored: list[str] = []
        self.saves: list[int] = []
        self.rng = random.Random(3)

    async def keep_raw(self, raw: bytes) -> str:
        return "sha256:x"

    async def submit(self, command: FeedCommand) -> Accepted:
        raise NotImplementedError("the player submits runs")

    async def submit_many(self, commands: Sequence[FeedCommand]) -> list[Accepted | DomainError]:
        await asyncio.sleep(self.rng.choice([0, 0, 0, 0.02]))  # some lanes are much slower
        self.stored.extend(c.idempotency_key for c in commands)
        self.saves.append(len(commands))
        return [Accepted(uuid4(), 1, 1) for _ in commands]

    async def quarantine(self, **_: object) -> int:
        return 0


def message(n: int, fixture: int) -> FeedMessage:
    def build(key: str, p: Provenance) -> FeedCommand:
        return StartFixture(idempotency_key=key, provenance=p, fixture_id=uuid4())

    return FeedMessage(
        at=T0 + timedelta(minutes=n),
        partition=f"fixture-{fixture}",
        kind="match-event",
        key=f"{n:05d}-{fixture}",
        raw=b"row",
        origin="test",
        build=build,
    )


def test_store_order_strays_from_event_order_by_at_most_the_window() -> None:
    messages = [message(n, n % 50) for n in range(3000)]
    intake = SlowLanesIntake()
    player = FeedPlayer(intake, source="t", lanes=16, run=8, window=40)
    report = asyncio.run(player.play(messages))
    assert report.accepted == 3000
    position = {key: i for i, key in enumerate(intake.stored)}
    displacement = max(abs(position[m.key] - n) for n, m in enumerate(messages))
    assert displacement <= 40
    for fixture in range(50):  # and each fixture's messages stay in their own order
        own = [position[m.key] for m in messages if m.partition == f"fixture-{fixture}"]
        assert own == sorted(own)


def test_one_lane_stores_in_exact_event_order_in_few_large_saves() -> None:
    messages = [message(n, n % 50) for n in range(3000)]
    intake = SlowLanesIntake()
    report = asyncio.run(FeedPlayer(intake, source="t", lanes=1, run=300).play(messages))
    assert intake.stored == [m.key for m in messages]
    assert report.most_late == 0
    assert intake.saves == [300] * 10


class KeepingIntake(SlowLanesIntake):
    """Keeps payloads slowly, and notes what was kept when each command arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: set[bytes] = set()
        self.missing: list[str] = []

    async def keep_raw(self, raw: bytes) -> str:
        await asyncio.sleep(self.rng.choice([0, 0.01]))
        self.kept.add(raw)
        return f"sha256:{raw.hex()}"

    async def submit_many(self, commands: Sequence[FeedCommand]) -> list[Accepted | DomainError]:
        for c in commands:
            ref = c.provenance.payload_ref or ""
            if bytes.fromhex(ref.removeprefix("sha256:")) not in self.kept:
                self.missing.append(c.idempotency_key)
        return await super().submit_many(commands)


def test_payloads_are_kept_before_any_event_that_refers_to_them() -> None:
    messages = [
        replace(message(n, n % 7), raw=f"row-{n // 3}".encode()) for n in range(600)
    ]  # three messages per raw row, as a dataset row gives several
    intake = KeepingIntake()
    report = asyncio.run(FeedPlayer(intake, source="t", lanes=2, run=50).play(messages))
    assert report.accepted == 600
    assert intake.missing == []
    assert len(intake.kept) == 200


class BrokenPayloadStore(SlowLanesIntake):
    async def keep_raw(self, raw: bytes) -> str:
        if raw == b"row-5":
            raise ConnectionError("payload store unreachable")
        return "sha256:x"


def test_a_payload_that_cannot_be_kept_stops_the_play_before_its_events() -> None:
    messages = [replace(message(n, n % 3), raw=f"row-{n // 10}".encode()) for n in range(100)]
    intake = BrokenPayloadStore()
    with pytest.raises(ConnectionError):
        asyncio.run(FeedPlayer(intake, source="t", lanes=1, run=10).play(messages))
    assert intake.stored == [m.key for m in messages[:50]]  # the runs before row 5's
