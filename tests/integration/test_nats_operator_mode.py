""".creds (JWT + NKey) credentials on every NATS path, against a real nats-server in operator
mode with TLS (issue 12): the server verifies the user JWT's chain (operator -> account ->
user) and the nonce signed with the user's seed, and enforces the permissions the JWT carries."""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from eventsourcing.persistence import StoredEvent

from infra.connections import connect_nats
from infra.eventstore import JetStreamFactory
from infra.eventstore.errors import EventStoreUnavailable, NatsPermissionDenied
from infra.eventstore.recorders import JetStreamApplicationRecorder
from infra.eventstore.security import NatsSecurity
from infra.eventstore.wire import WireClient, WireError
from infra.natsaccess import Role, StreamNames
from tests.operator_mode import Operator
from tests.tls_nats import tls_nats_server

EVENTS, FORECASTS = "SPORTCAST_EVENTS", "SPORTCAST_FORECASTS"


class OperatorServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.operator = Operator.make()
        self.server, self.certs = tls_nats_server(root, self.operator.server_block())

    def security(self, role: Role, *, signer: str = "") -> NatsSecurity:
        creds = self.root / f"{role.value}-{signer or 'account'}-{uuid.uuid4().hex[:6]}.creds"
        self.operator.user_creds(creds, role, StreamNames(), signer=signer)
        return NatsSecurity(
            creds_file=str(creds),
            tls_ca_file=str(self.certs.ca),
            tls_cert_file=str(self.certs.client_cert),
            tls_key_file=str(self.certs.client_key),
        )

    def connections(self) -> list[dict[str, Any]]:
        url = f"{self.server.monitor_url}/connz?auth=true"
        with urllib.request.urlopen(url, timeout=5) as answer:  # our own loopback monitor
            return list(json.load(answer)["connections"])


@pytest.fixture(scope="module")
def operator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorServer]:
    server = OperatorServer(tmp_path_factory.mktemp("operator-mode"))
    server.server.start()
    yield server
    server.server.stop()


def factory_for(server: OperatorServer, security: NatsSecurity, stream: str, **extra: str) -> Any:
    return JetStreamFactory(
        {
            "NATS_URL": server.server.url,
            "NATS_STREAM": stream,
            "NATS_LINK": "own",
            "NATS_SAVE_TIMEOUT": "1",
            **security.as_env(),
            **extra,
        }
    )


def recorder_of(factory: JetStreamFactory) -> JetStreamApplicationRecorder:
    recorder = factory.application_recorder()
    assert isinstance(recorder, JetStreamApplicationRecorder)
    return recorder


@pytest.fixture(scope="module")
def streams(operator_server: OperatorServer) -> OperatorServer:
    """The streams made by the admin's .creds user, as `sportcast nats setup` makes them."""
    for stream in (EVENTS, FORECASTS):
        factory = factory_for(operator_server, operator_server.security(Role.ADMIN), stream)
        try:
            recorder_of(factory).select_notifications(1, 1)  # makes the stream
        finally:
            factory.close()
    return operator_server


@pytest.mark.parametrize("wire", ["yes", "no"])
def test_a_creds_user_writes_and_reads_on_every_path(streams: OperatorServer, wire: str) -> None:
    security = streams.security(Role.INGEST)
    factory = factory_for(streams, security, EVENTS, NATS_WIRE=wire)
    try:
        recorder = recorder_of(factory)
        oid = uuid.uuid4()
        recorder.insert_events([StoredEvent(oid, v, "t", b"{}") for v in (1, 2)])
        assert [e.originator_version for e in recorder.select_events(oid)] == [1, 2]
        assert recorder.select_notifications(1, 10)
        assert "creds file (JWT + NKey)" in factory.link.paths()
        ours = {
            c["name"]: c
            for c in streams.connections()
            if str(c.get("name", "")).startswith("sportcast-eventstore")
        }
        expected = {"sportcast-eventstore"}
        if wire == "yes":  # our publisher (writes) and Direct Get client (reads) served too
            expected |= {"sportcast-eventstore-writes", "sportcast-eventstore-reads"}
        assert set(ours) == expected
        account = streams.operator.account.public_key.decode()
        for conn in ours.values():
            assert conn["tls_version"].startswith("1.")
            assert conn["account"] == account  # the server resolved the JWT's account
    finally:
        factory.close()


@pytest.mark.parametrize("wire", ["yes", "no"])
def test_the_permissions_in_the_user_jwt_are_enforced(streams: OperatorServer, wire: str) -> None:
    factory = factory_for(streams, streams.security(Role.INGEST), FORECASTS, NATS_WIRE=wire)
    try:
        with pytest.raises(NatsPermissionDenied) as denied:
            recorder_of(factory).insert_events([StoredEvent(uuid.uuid4(), 1, "t", b"{}")])
        assert denied.value.code == "nats-permission-denied"
    finally:
        factory.close()


async def test_a_user_jwt_no_trusted_account_signed_is_refused(streams: OperatorServer) -> None:
    stranger = streams.security(Role.ADMIN, signer="stranger")
    client = WireClient(streams.server.url, EVENTS, security=stranger)
    with pytest.raises(WireError, match="Authorization Violation"):
        await asyncio.to_thread(client.request, {"seq": 1}, lambda h, d: d, wait=5)
    with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
        await connect_nats(streams.server.url, reconnect=False, security=stranger)
    # Long-lived connections (reconnecting forever) fail at once too, saying why.
    with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
        await asyncio.wait_for(connect_nats(streams.server.url, security=stranger), 20)
    with pytest.raises(EventStoreUnavailable, match=r"(?i)authorization violation"):
        await asyncio.to_thread(factory_for, streams, stranger, EVENTS)
