"""TLS and NKey authentication on every NATS path of the event store, on a real nats-server."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from infra.eventstore import JetStreamFactory
from infra.eventstore.recorders import JetStreamApplicationRecorder
from infra.eventstore.security import NatsSecurity
from infra.eventstore.wire import WireClient, WireError
from infra.eventstore.wire_tls import BufferedTls
from infra.natsaccess import Role
from tests.conftest import SecureNats


def connections(secure: SecureNats) -> list[dict[str, Any]]:
    url = f"{secure.server.monitor_url}/connz?auth=true"
    with urllib.request.urlopen(url, timeout=5) as answer:  # our own loopback monitor
        return list(json.load(answer)["connections"])


@pytest.fixture
def secured_factory(
    secure_nats: SecureNats, request: pytest.FixtureRequest
) -> Iterator[JetStreamFactory]:
    env = {
        "NATS_URL": secure_nats.url,
        "NATS_STREAM": f"S{uuid.uuid4().hex[:12].upper()}",
        "NATS_LINK": "own",
        **secure_nats.security(Role.ADMIN).as_env(),
        **getattr(request, "param", {}),
    }
    factory = JetStreamFactory(env)
    yield factory
    factory.close()


def write_and_read(factory: JetStreamFactory) -> None:
    recorder = factory.application_recorder()
    assert isinstance(recorder, JetStreamApplicationRecorder)
    oid = uuid.uuid4()
    recorder.insert_events([StoredEvent(oid, v, "t", b"{}") for v in (1, 2)])
    assert [e.originator_version for e in recorder.select_events(oid)] == [1, 2]
    assert len(recorder.select_notifications(1, 10)) == 2


def test_every_event_store_path_speaks_tls_as_its_nkey_user(
    secure_nats: SecureNats, secured_factory: JetStreamFactory
) -> None:
    write_and_read(secured_factory)
    admin = secure_nats.users.public_key(Role.ADMIN)
    ours = {
        c["name"]: c
        for c in connections(secure_nats)
        if str(c.get("name", "")).startswith("sportcast-eventstore")
    }
    # nats-py, our publisher (writes) and our Direct Get client (reads) all served the calls.
    assert set(ours) == {
        "sportcast-eventstore",
        "sportcast-eventstore-writes",
        "sportcast-eventstore-reads",
    }
    for conn in ours.values():
        assert conn["tls_version"].startswith("1.")
        assert conn["authorized_user"] == admin
    assert "reads through our Direct Get client" in secured_factory.link.paths()


@pytest.mark.parametrize("secured_factory", [{"NATS_WIRE": "no"}], indirect=True)
def test_with_the_hand_written_paths_off_nats_py_serves_alone(
    secure_nats: SecureNats, secured_factory: JetStreamFactory
) -> None:
    write_and_read(secured_factory)
    names = {c.get("name") for c in connections(secure_nats)}
    assert "sportcast-eventstore" in names
    assert not names & {"sportcast-eventstore-writes", "sportcast-eventstore-reads"}
    assert "switched off" in secured_factory.link.paths()


def test_our_read_client_without_credentials_is_refused(secure_nats: SecureNats) -> None:
    anonymous_tls = NatsSecurity(
        tls_ca_file=str(secure_nats.certs.ca),
        tls_cert_file=str(secure_nats.certs.client_cert),
        tls_key_file=str(secure_nats.certs.client_key),
    )
    client = WireClient(secure_nats.url, "ANY", security=anonymous_tls)
    with pytest.raises(WireError, match="Authorization Violation"):
        client.request({"seq": 1}, lambda h, d: d, wait=5)


def test_our_read_client_refuses_a_server_it_cannot_verify(secure_nats: SecureNats) -> None:
    no_ca = NatsSecurity(nkey_seed_file=str(secure_nats.users.seed_file(Role.READER)))
    client = WireClient(secure_nats.url, "ANY", security=no_ca)
    with pytest.raises(WireError, match="TLS handshake"):
        client.request({"seq": 1}, lambda h, d: d, wait=5)


def test_a_read_under_tls_decrypts_many_messages_per_socket_read(
    secure_nats: SecureNats, secured_factory: JetStreamFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nats-server sends about one TLS record per message; SSLSocket.recv returned one record
    per call (a socket read per message). Every record one read brings in is decrypted now."""
    writer = secured_factory.application_recorder()
    for _ in range(20):
        writer.insert_events([StoredEvent(uuid.uuid4(), 1, "t", b"x" * 300) for _ in range(100)])
    reads = 0
    read_raw = BufferedTls._read_raw

    def counted(self: BufferedTls) -> bool:
        nonlocal reads
        reads += 1
        return read_raw(self)

    monkeypatch.setattr(BufferedTls, "_read_raw", counted)
    stream = secured_factory.env.get("NATS_STREAM")
    reader = JetStreamFactory(
        {
            "NATS_URL": secure_nats.url,
            "NATS_STREAM": str(stream),
            "NATS_LINK": "own",
            **secure_nats.security(Role.READER).as_env(),
        }
    )
    try:
        recorder = reader.application_recorder()
        assert isinstance(recorder, JetStreamApplicationRecorder)
        assert len(recorder.select_notifications(1, 2000)) == 2000
    finally:
        reader.close()
    assert 0 < reads < 200  # TLS handshake and replies included
