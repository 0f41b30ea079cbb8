"""Least privilege: each service's NATS user is refused outside its permissions, with a clear
error (``nats-permission-denied``), on a real nats-server with TLS and NKey users per role."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import pytest
from eventsourcing.persistence import StoredEvent

from infra.audit.checkpointer import Checkpointer
from infra.connections import connect_nats
from infra.eventstore import JetStreamFactory
from infra.eventstore.checkpoint import SigningKey
from infra.eventstore.denials import denial_of
from infra.eventstore.errors import NatsPermissionDenied
from infra.eventstore.recorders import JetStreamApplicationRecorder
from infra.nats_setup import prepare
from infra.natsaccess import SERVICE_ROLES, Role
from infra.settings import Settings
from tests.conftest import SecureNats

EVENTS, FORECASTS = "SPORTCAST_EVENTS", "SPORTCAST_FORECASTS"
SPORTCAST = str(Path(sys.executable).parent / "sportcast")


@pytest.fixture(scope="module")
def streams(secure_nats: SecureNats) -> SecureNats:
    """The streams made once by the admin user, as `sportcast nats setup` makes them."""
    made = prepare(Settings(nats_url=secure_nats.url), secure_nats.url, secure_nats.security())
    assert EVENTS in made
    assert FORECASTS in made
    return secure_nats


def recorder_as(
    secure: SecureNats, role: Role, stream: str, **extra: str
) -> Iterator[JetStreamApplicationRecorder]:
    factory = JetStreamFactory(
        {
            "NATS_URL": secure.url,
            "NATS_STREAM": stream,
            "NATS_LINK": "own",
            "NATS_SAVE_TIMEOUT": "1",
            **secure.security(role).as_env(),
            **extra,
        }
    )
    try:
        recorder = factory.application_recorder()
        assert isinstance(recorder, JetStreamApplicationRecorder)
        yield recorder
    finally:
        factory.close()


WRITES = [
    (Role.INGEST, EVENTS, True),
    (Role.INGEST, FORECASTS, False),
    (Role.FORECASTER, FORECASTS, True),
    (Role.FORECASTER, EVENTS, False),
    (Role.READER, EVENTS, False),
    (Role.CHECKPOINTER, EVENTS, False),
    (Role.CHECKPOINTER, FORECASTS, False),
    (Role.STACK, EVENTS, True),
    (Role.STACK, FORECASTS, True),
]


@pytest.mark.parametrize("wire", ["yes", "no"])
@pytest.mark.parametrize(("role", "stream", "allowed"), WRITES)
def test_each_service_user_writes_only_its_own_streams(
    streams: SecureNats, role: Role, stream: str, allowed: bool, wire: str
) -> None:
    for recorder in recorder_as(streams, role, stream, NATS_WIRE=wire):
        event = StoredEvent(uuid.uuid4(), 1, "sportcast:Test", b"{}")
        if allowed:
            assert recorder.insert_events([event])
        else:
            with pytest.raises(NatsPermissionDenied) as denied:
                recorder.insert_events([event])
            assert denied.value.code == "nats-permission-denied"
            assert denied.value.subject.lower().startswith(f"es.{stream}.".lower())
            assert recorder.select_events(event.originator_id) == []


def test_the_reader_reads_through_every_path(streams: SecureNats) -> None:
    """Direct Get, a long read through an ephemeral consumer, and nats-py alone."""
    oids = [uuid.uuid4() for _ in range(600)]
    for writer in recorder_as(streams, Role.INGEST, EVENTS):
        first = writer.insert_events([StoredEvent(o, 1, "sportcast:Test", b"{}") for o in oids])
        assert first is not None
    for wire in ("yes", "no"):
        for reader in recorder_as(streams, Role.READER, EVENTS, NATS_WIRE=wire):
            got = reader.select_notifications(first[0], 600)
            assert [n.originator_id for n in got] == oids
            assert reader.select_events(oids[0])[0].originator_version == 1


STREAM_API = [
    "$JS.API.STREAM.UPDATE.{s}",
    "$JS.API.STREAM.CREATE.{s}",
    "$JS.API.STREAM.DELETE.{s}",
    "$JS.API.STREAM.PURGE.{s}",
    "$JS.API.STREAM.MSG.DELETE.{s}",
]


@pytest.mark.parametrize("role", SERVICE_ROLES)
async def test_no_service_user_may_create_change_delete_or_purge_a_stream(
    streams: SecureNats, role: Role
) -> None:
    errors: list[Exception] = []

    async def record(error: Exception) -> None:
        errors.append(error)

    security = streams.security(role)
    nc = await nats.connect(streams.url, error_cb=record, **security.nats_py_options(streams.url))
    try:
        for api in STREAM_API:
            subject = api.format(s=EVENTS)
            with pytest.raises(nats.errors.TimeoutError):  # the server drops the request
                await nc.request(subject, b"{}", timeout=0.5)
        wanted = {api.format(s=EVENTS).lower() for api in STREAM_API}

        def denied() -> set[str]:
            return {d.subject.lower() for d in map(denial_of, errors) if d is not None}

        async with asyncio.timeout(30):  # each denial comes in its own time (a deadline)
            while not denied() >= wanted:  # noqa: ASYNC110 (polls what the server said, bounded)
                await asyncio.sleep(0.02)
        assert all(d.code == "nats-permission-denied" for d in map(denial_of, errors) if d)
    finally:
        await nc.close()


async def test_the_checkpointer_writes_checkpoints_and_nothing_else(streams: SecureNats) -> None:
    """Compose's checkpointer service runs under this user (its only write: ``es.<s>.chk``)."""
    for writer in recorder_as(streams, Role.INGEST, EVENTS):
        await asyncio.to_thread(
            writer.insert_events, [StoredEvent(uuid.uuid4(), 1, "sportcast:Test", b"{}")]
        )
    nc = await connect_nats(
        streams.url, reconnect=False, security=streams.security(Role.CHECKPOINTER)
    )
    try:
        checkpointer = Checkpointer(
            nc, [EVENTS], chain_key=b"", signing=SigningKey("k1", b"k" * 32), interval=3600
        )
        [checkpoint] = await checkpointer.seal()
        assert checkpoint.upto_seq >= 1
    finally:
        await nc.close()


def test_sportcast_serve_checkpointer_seals_under_its_own_user(
    streams: SecureNats, tmp_path: Path
) -> None:
    """The compose service's command, as a process, with the checkpointer's credentials only."""
    for writer in recorder_as(streams, Role.INGEST, EVENTS):
        writer.insert_events([StoredEvent(uuid.uuid4(), 1, "sportcast:Test", b"{}")])
    security = streams.security(Role.CHECKPOINTER)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")},
        "SPORTCAST_NATS_URL": streams.url,
        "SPORTCAST_NATS_NKEY_SEED_FILE": security.nkey_seed_file,
        "SPORTCAST_NATS_TLS_CA_FILE": security.tls_ca_file,
        "SPORTCAST_NATS_TLS_CERT_FILE": security.tls_cert_file,
        "SPORTCAST_NATS_TLS_KEY_FILE": security.tls_key_file,
        "SPORTCAST_CHECKPOINT_KEYS_FILE": str(tmp_path / "keys.json"),
        "SPORTCAST_STATE_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [SPORTCAST, "serve", "checkpointer"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        said: list[str] = []  # its log lines come first (stderr, joined here)
        for line in process.stdout:
            said.append(line)
            if "checkpointer sealing the streams" in line:
                break
        assert "checkpointer sealing the streams" in said[-1], said
    finally:
        process.send_signal(signal.SIGTERM)  # a checkpoint is written at every stop
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "failed" not in output, output

    async def last_checkpoint() -> bytes:
        nc = await connect_nats(streams.url, reconnect=False, security=streams.security())
        try:
            message = await nc.jetstream().get_last_msg(EVENTS, f"es.{EVENTS}.chk")
            return bytes(message.data or b"")
        finally:
            await nc.close()

    assert asyncio.run(last_checkpoint())
    assert (tmp_path / "keys.json").stat().st_mode & 0o777 == 0o600
