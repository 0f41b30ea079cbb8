"""``PERSISTENCE_MODULE=infra.eventstore``: eventsourcing's factory for the JetStream store."""

from __future__ import annotations

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic

from infra.eventstore.eventstream import EventStream
from infra.eventstore.link import NatsLink, acquire_link, release_link
from infra.eventstore.recorders import (
    JetStreamAggregateRecorder,
    JetStreamApplicationRecorder,
    JetStreamProcessRecorder,
    JetStreamTrackingRecorder,
)
from infra.eventstore.settings import EventStoreSettings


class JetStreamFactory(InfrastructureFactory[JetStreamTrackingRecorder]):
    """Reads NATS_URL, NATS_STREAM, NATS_REPLICAS, ... (see settings.py) from the environment.

    Every factory of a process uses the process's one link to its server (link.py), unless
    ``NATS_LINK=own`` asks for a link of its own (tests of independent writers).
    """

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        self.settings = s = EventStoreSettings.from_environment(self.env)
        self.link: NatsLink
        if s.shared_link:
            self.link = acquire_link(s.url, s.security, wire=s.wire)
        else:
            self.link = NatsLink(s.url, security=s.security, wire=s.wire)
            self.link.open()
        self._streams: list[EventStream] = []
        self._closed = False

    def _stream(self, kind: str = "evt") -> EventStream:
        # Re-read: eventsourcing's tests change the environment between calls.
        settings = EventStoreSettings.from_environment(self.env)
        stream = EventStream(self.link, settings, kind=kind)
        self._streams.append(stream)
        return stream

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return JetStreamAggregateRecorder(self._stream("evt" if purpose == "events" else purpose))

    def application_recorder(self) -> ApplicationRecorder:
        return JetStreamApplicationRecorder(self._stream())

    def tracking_recorder(
        self, tracking_recorder_class: type[JetStreamTrackingRecorder] | None = None
    ) -> JetStreamTrackingRecorder:
        if tracking_recorder_class is None:
            topic = self.env.get(self.TRACKING_RECORDER_TOPIC)
            tracking_recorder_class = resolve_topic(topic) if topic else JetStreamTrackingRecorder
        assert tracking_recorder_class is not None
        assert issubclass(tracking_recorder_class, JetStreamTrackingRecorder)
        return tracking_recorder_class(self._stream())

    def process_recorder(self) -> ProcessRecorder:
        return JetStreamProcessRecorder(self._stream())

    def close(self) -> None:
        for stream in self._streams:
            stream.close()
        self._streams.clear()
        if self._closed:
            return
        self._closed = True
        if self.settings.shared_link:
            release_link(self.link)
        else:
            self.link.close()
