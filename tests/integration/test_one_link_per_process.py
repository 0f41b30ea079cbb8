"""Every eventsourcing Application of a process shares one NATS link (loop, connections)."""

from __future__ import annotations

from eventsourcing.application import Application

from infra.eventstore import JetStreamFactory


class Ledger(Application[object]):
    pass


def test_applications_of_one_process_share_one_link_until_the_last_closes(
    nats_url: str, unique_name: str
) -> None:
    env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_url}
    first = Ledger({**env, "NATS_STREAM": f"{unique_name}A"})
    second = Ledger({**env, "NATS_STREAM": f"{unique_name}B"})
    try:
        assert isinstance(first.factory, JetStreamFactory)
        assert isinstance(second.factory, JetStreamFactory)
        link = first.factory.link
        assert second.factory.link is link
        first.close()
        assert link.is_open  # the second still uses it
    finally:
        second.close()
    assert not link.is_open
    own = JetStreamFactory({"NATS_URL": nats_url, "NATS_STREAM": unique_name, "NATS_LINK": "own"})
    try:
        assert own.link is not link
    finally:
        own.close()
