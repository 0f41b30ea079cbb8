"""The player keeps each fixture's order and never lets the feed stray far from event order."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from eventsourcing.persistence import OperationalError

from commands.fixture import StartFixture
from commands.ingestion import Accepted, FeedCommand
from commands.intake import RefusedPayload
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

    async def quarantine(self, refused: RefusedPayload) -> int:
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


class FlakyIntake(SlowLanesIntake):
    """Stores a run, then fails to answer (as a store that stored but timed out would), the
    first ``failures`` times; answers stored keys as duplicates afterwards, as receipts do."""

    def __init__(self, failures: int, error: Exception) -> None:
        super().__init__()
        self.failures, self.error = failures, error
        self.keys: set[str] = set()

    async def submit_many(self, commands: Sequence[FeedCommand]) -> list[Accepted | DomainError]:
        new = [c for c in commands if c.idempotency_key not in self.keys]
        self.keys.update(c.idempotency_key for c in new)
        self.stored.extend(c.idempotency_key for c in new)
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        return [
            Accepted(
                uuid4(), 1, 1, duplicate=c.idempotency_key not in {n.idempotency_key for n in new}
            )
            for c in commands
        ]


@pytest.mark.parametrize("error", [TimeoutError("nats: timeout"), OperationalError("no answer")])
def test_a_run_the_store_did_not_answer_is_submitted_again_without_losing_or_doubling(
    error: Exception,
) -> None:
    messages = [message(n, n % 3) for n in range(30)]
    intake = FlakyIntake(failures=2, error=error)
    player = FeedPlayer(intake, source="test", lanes=1, run=10, retry_delay=0.001)
    report = asyncio.run(player.play(messages))
    assert report.retries == 2
    assert sorted(intake.stored) == sorted(m.key for m in messages)  # each stored once
    assert report.accepted + report.duplicates == 30
    assert report.duplicates == 10  # the run stored before its answer was lost


def test_a_store_that_never_answers_stops_the_play_after_the_last_attempt() -> None:
    intake = FlakyIntake(failures=100, error=TimeoutError("nats: timeout"))
    player = FeedPlayer(intake, source="test", lanes=1, run=10, attempts=3, retry_delay=0.001)
    with pytest.raises(TimeoutError):
        asyncio.run(player.play([message(n, 0) for n in range(5)]))
    assert intake.failures == 97  # three attempts, then the error


def test_a_refusal_of_the_store_is_not_retried() -> None:
    intake = FlakyIntake(failures=1, error=ValueError("not transient"))
    player = FeedPlayer(intake, source="test", lanes=1, run=10, retry_delay=0.001)
    with pytest.raises(ValueError, match="not transient"):
        asyncio.run(player.play([message(n, 0) for n in range(5)]))


class RefusingIntake(SlowLanesIntake):
    """Refuses every third command, as the domain refuses an impossible price; holds them."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[RefusedPayload] = []

    async def submit_many(self, commands: Sequence[FeedCommand]) -> list[Accepted | DomainError]:
        return [
            DomainError(f"impossible {c.idempotency_key}")
            if int(c.idempotency_key[:5]) % 3 == 0
            else Accepted(uuid4(), 1, 1)
            for c in commands
        ]

    async def quarantine(self, refused: RefusedPayload) -> int:
        self.held.append(refused)
        return len(self.held)


def test_each_refused_message_is_held_and_logged_as_one_json_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The CLI's intake (feed replay, feed simulate) logs every refusal as the HTTP ingest
    does: one JSON line on sportcast.refusals, naming the code, where the bytes came from and
    the quarantine entry that keeps them."""
    messages = [message(n, n % 5) for n in range(30)]
    intake = RefusingIntake()
    with caplog.at_level(logging.INFO, logger="sportcast.refusals"):
        report = asyncio.run(FeedPlayer(intake, source="replay", lanes=2, run=4).play(messages))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "sportcast.refusals"]
    assert sum(report.refused.values()) == len(intake.held) == len(lines) == 10
    assert {line["key"] for line in lines} == {h.key for h in intake.held}
    assert sorted(line["quarantine_seq"] for line in lines) == list(range(1, 11))
    for line in lines:
        assert line["event"] == "refused"
        assert line["code"] == DomainError.code
        assert line["source"] == "replay"
        assert line["origin"] == "test"
        assert line["detail"] == f"impossible {line['key']}"
