"""`sportcast replay`: the read models at a position or a time, built into their own schemas
from a real nats-server into a real PostgreSQL, equal to the live projections stopped there."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from typer.testing import CliRunner

from commands.ingestion import FeedIngestion
from domain.errors import DomainError
from domain.provenance import Provenance
from infra.cli import app
from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats
from infra.embedded.ports import free_port
from infra.embedded.postgres import EmbeddedPostgres
from infra.feeds.simulated import simulated_messages
from infra.feeds.simulator import SeasonSimulator
from infra.projections.logs import StoreEventLog
from infra.projections.replay_cut import resolve_cut
from projections.catalogue import POSTGRES_PROJECTIONS
from projections.log import EventLog
from projections.replay import (
    BadRange,
    BadSchemaName,
    Cut,
    ReadStoreUnreachable,
    Replayed,
    SchemaExists,
    replay,
)
from readmodels.postgres.schemas import live_schema, replay_schema
from tests.conftest import fresh_database
from tests.football_month import Forecasting
from tests.projecting import dump, project
from tests.small_models import small_football_model

pytestmark = pytest.mark.slow
NAMES = ["fixtures", "odds", "forecasts", "track_record"]
runner = CliRunner()


@dataclass
class TwoPhases:
    nats_url: str
    postgres_url: str
    events: str
    forecasts: str
    at_a: dict[str, int]  # the heads after phase A
    between: datetime  # a moment after everything of phase A was stored, before phase B
    snapshot: dict[str, dict[str, list[str]]]  # the live read models at the end of phase A
    after_b: dict[str, dict[str, list[str]]]  # and at the end of phase B
    live_positions: dict[str, dict[str, int]] = field(default_factory=dict)  # at the end of A

    @property
    def streams(self) -> dict[str, str]:
        return {"events": self.events, "forecasts": self.forecasts}

    def envs(self) -> dict[str, dict[str, str]]:
        base = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": self.nats_url}
        return {
            "events": {**base, "NATS_STREAM": self.events},
            "forecasts": {**base, "NATS_STREAM": self.forecasts},
        }


def _store(env: dict[str, str], messages: list[Any]) -> int:
    feeds = FeedIngestion(env)
    received = Provenance(source="test", received_at=datetime.now(UTC))
    try:
        for message in messages:
            with contextlib.suppress(DomainError):
                feeds.handle(message.build(message.key, received))
        return feeds.recorder.max_notification_id() or 0
    finally:
        feeds.close()


def _forecast(env: dict[str, str], stream: str, model: bytes) -> int:
    forecasting = Forecasting(env, stream, model)
    forecasting.start()
    try:
        forecasting.catch_up(60)
    finally:
        forecasting.stop()
    return _head(env, stream)


def _head(env: dict[str, str], stream: str) -> int:
    async def main() -> int:
        nc = await connect_nats(env["NATS_URL"], reconnect=False)
        try:
            return int((await nc.jetstream().stream_info(stream)).state.last_seq)
        finally:
            await nc.close()

    return asyncio.run(main())


def positions(postgres_url: str, schema: str) -> dict[str, int]:
    async def main() -> dict[str, int]:
        conn = await asyncpg.connect(postgres_url)
        try:
            rows = await conn.fetch(f'SELECT stream, position FROM "{schema}".projection_position')
            return {r["stream"]: r["position"] for r in rows}
        finally:
            await conn.close()

    return asyncio.run(main())


@pytest.fixture(scope="module")
def phases(nats_server: EmbeddedNats, postgres_server: EmbeddedPostgres) -> Iterator[TwoPhases]:
    """A simulated season's first 800 feed messages with their forecasts (phase A), the live
    projections stopped there, then 700 more with theirs (phase B) and the live projections
    caught up again."""
    with fresh_database(postgres_server) as database:
        yield from _two_phases(nats_server.url, database)


def _two_phases(nats_url: str, postgres_url: str) -> Iterator[TwoPhases]:
    tag = uuid.uuid4().hex[:10].upper()
    log = TwoPhases(
        nats_url,
        postgres_url,
        f"R{tag}",
        f"R{tag}_F",
        {},
        datetime.now(UTC),
        {},
        {},
    )
    env = log.envs()["events"]
    model = small_football_model()
    messages = list(simulated_messages(SeasonSimulator(seed=5)))[:1500]
    live = {p: live_schema(p) for p in NAMES}

    events_a = _store(env, messages[:800])
    forecasts_a = _forecast(env, log.forecasts, model)
    log.at_a = {"events": events_a, "forecasts": forecasts_a}
    project(log.envs(), log.postgres_url, NAMES)
    log.snapshot = dump(log.postgres_url, live)
    log.live_positions = {p: positions(log.postgres_url, s) for p, s in live.items()}
    time.sleep(0.05)
    log.between = datetime.now(UTC)
    time.sleep(0.05)

    _store(env, messages[800:])
    _forecast(env, log.forecasts, model)
    project(log.envs(), log.postgres_url, NAMES)
    log.after_b = dump(log.postgres_url, live)
    yield log


def _cut(log: TwoPhases, until: str) -> Cut:
    async def main() -> Cut:
        nc = await connect_nats(log.nats_url, reconnect=False)
        try:
            return await resolve_cut(nc, log.streams, until)
        finally:
            await nc.close()

    return asyncio.run(main())


def _replay(log: TwoPhases, cut: Cut, name: str, postgres_url: str | None = None) -> Replayed:
    async def main() -> Replayed:
        stores = {
            n: await asyncio.to_thread(StoreEventLog, n, env) for n, env in log.envs().items()
        }
        logs: dict[str, EventLog] = dict(stores)
        try:
            return await replay(
                [POSTGRES_PROJECTIONS[n] for n in NAMES],
                logs,
                cut,
                postgres_url or log.postgres_url,
                name,
                page_size=97,  # many pages, and pages that straddle the cut
            )
        finally:
            for store in stores.values():
                await asyncio.to_thread(store.close)

    return asyncio.run(main())


def _replayed(log: TwoPhases, name: str) -> dict[str, dict[str, list[str]]]:
    return dump(log.postgres_url, {p: replay_schema(name, p) for p in NAMES})


def test_a_replay_at_positions_equals_the_live_read_models_stopped_there(
    phases: TwoPhases,
) -> None:
    assert phases.after_b != phases.snapshot  # phase B changed every read model...
    for p in NAMES:
        assert phases.after_b[p] != phases.snapshot[p], p

    cut = _cut(phases, f"events={phases.at_a['events']},forecasts={phases.at_a['forecasts']}")
    assert dict(cut.positions) == phases.at_a
    done = _replay(phases, cut, "audit_a")
    assert done.positions == phases.at_a
    assert done.events > 0

    assert _replayed(phases, "audit_a") == phases.snapshot  # ...and the replay is phase A's
    for p in NAMES:  # each replayed schema records the cut as its position
        followed = POSTGRES_PROJECTIONS[p].topics
        assert positions(phases.postgres_url, replay_schema("audit_a", p)) == {
            s: phases.at_a[s] for s in followed
        }
        # (the live one stopped at the last event; a checkpoint or tracking record may follow)
        assert all(phases.live_positions[p][s] <= phases.at_a[s] for s in followed)
    # Fixtures first seen in phase B are absent, and the live ones are untouched.
    live_b = set(phases.after_b["fixtures"]["fixtures"]) - set(
        phases.snapshot["fixtures"]["fixtures"]
    )
    assert live_b
    assert not live_b & set(_replayed(phases, "audit_a")["fixtures"]["fixtures"])
    assert dump(phases.postgres_url, {p: live_schema(p) for p in NAMES}) == phases.after_b

    rows = asyncio.run(_manifest(phases.postgres_url, "audit_a"))
    assert {r["stream"]: r["position"] for r in rows} == phases.at_a
    assert all(r["stored_at"] is not None and r["stored_at"] < phases.between for r in rows)


async def _manifest(postgres_url: str, name: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(postgres_url)
    try:
        return [dict(r) for r in await conn.fetch(f'SELECT * FROM "{name}".replay_cut')]
    finally:
        await conn.close()


def test_a_replay_until_a_time_cuts_every_log_at_the_messages_stored_by_then(
    phases: TwoPhases,
) -> None:
    cut = _cut(phases, phases.between.isoformat())
    assert dict(cut.positions) == phases.at_a
    _replay(phases, cut, "audit_t")
    assert _replayed(phases, "audit_t") == phases.snapshot

    # Naive times are UTC; a time before anything was stored is the empty state.
    naive = phases.between.astimezone(UTC).replace(tzinfo=None).isoformat()
    assert dict(_cut(phases, naive).positions) == phases.at_a
    assert dict(_cut(phases, "2001-01-01T00:00:00Z").positions) == {"events": 0, "forecasts": 0}


def test_one_position_cuts_the_other_logs_when_that_message_was_stored(
    phases: TwoPhases,
) -> None:
    events_a, forecasts_a = phases.at_a["events"], phases.at_a["forecasts"]
    # Phase A's forecasts were made after its last event was stored: none existed yet then.
    assert dict(_cut(phases, str(events_a)).positions) == {"events": events_a, "forecasts": 0}
    # When phase A's last forecast was stored, the feed held phase A and nothing more.
    named = _cut(phases, f"forecasts={forecasts_a}")
    assert dict(named.positions) == phases.at_a
    assert named.stored_at["events"] is not None
    assert named.stored_at["forecasts"] is not None
    assert named.stored_at["events"] <= named.stored_at["forecasts"]


def test_bad_ranges_and_names_are_refused_with_their_codes(phases: TwoPhases) -> None:
    head = _head(phases.envs()["events"], phases.events)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for until in (
        f"events={head + 1}",
        "-1",
        "events=-3",
        future,
        "yesterday",
        "odds=3",
        "events=1,events=2",
    ):
        with pytest.raises(BadRange) as refused:
            _cut(phases, until)
        assert refused.value.code == "bad-range"
    cut = _cut(phases, "events=10,forecasts=0")
    for name in ("rm_fixtures", "Audit", "a__b", "1st"):
        with pytest.raises(BadSchemaName):
            _replay(phases, cut, name)


def test_an_existing_schema_is_refused_and_left_as_it_was(phases: TwoPhases) -> None:
    cut = _cut(phases, "events=40,forecasts=0")
    _replay(phases, cut, "audit_x")
    before = _replayed(phases, "audit_x")
    with pytest.raises(SchemaExists) as refused:
        _replay(phases, _cut(phases, "events=400,forecasts=0"), "audit_x")
    assert refused.value.code == "schema-exists"
    assert _replayed(phases, "audit_x") == before


def test_unreachable_stores_are_a_code_not_a_traceback(phases: TwoPhases) -> None:
    cut = _cut(phases, "events=10,forecasts=0")
    with pytest.raises(ReadStoreUnreachable):
        _replay(phases, cut, "audit_u", f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    answer = runner.invoke(
        app,
        [
            "replay",
            "--until",
            "events=1",
            "--schema",
            "audit_n",
            "--nats-url",
            f"nats://127.0.0.1:{free_port()}",
        ],
    )
    assert answer.exit_code == 2, answer.output
    assert "[store-unreachable]" in answer.output
    assert "Traceback" not in answer.output


def test_the_command_replays_the_read_models_it_is_asked_for(
    phases: TwoPhases, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPORTCAST_STREAM_NAME", phases.events)
    monkeypatch.setenv("SPORTCAST_FORECASTER_STREAM", phases.forecasts)
    monkeypatch.setenv("SPORTCAST_FEED_HEALTH_STREAM", f"{phases.events}_NONE")
    args = [
        "replay",
        "--until",
        phases.between.isoformat(),
        "--schema",
        "audit_cli",
        "--projection",
        "fixtures",
        "--projection",
        "forecasts",
        "--nats-url",
        phases.nats_url,
        "--postgres-url",
        phases.postgres_url,
    ]
    answer = runner.invoke(app, [*args, "--json"])
    assert answer.exit_code == 0, answer.output
    report = json.loads(answer.stdout)
    assert report["positions"] == phases.at_a
    assert report["schemas"] == ["audit_cli", "audit_cli_fixtures", "audit_cli_forecasts"]
    replayed = dump(
        phases.postgres_url,
        {"fixtures": "audit_cli_fixtures", "forecasts": "audit_cli_forecasts"},
    )
    assert replayed == {p: phases.snapshot[p] for p in ("fixtures", "forecasts")}
    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert "[schema-exists]" in again.output
