"""The event store: eventsourcing's persistence module on NATS JetStream (docs/adr/0004).

Select it as eventsourcing selects any persistence module::

    PERSISTENCE_MODULE=infra.eventstore NATS_URL=nats://127.0.0.1:4222 NATS_STREAM=EVENTS
"""

from __future__ import annotations

from infra.eventstore.factory import JetStreamFactory
from infra.eventstore.recorders import (
    JetStreamAggregateRecorder,
    JetStreamApplicationRecorder,
    JetStreamProcessRecorder,
    JetStreamTrackingRecorder,
)

Factory = JetStreamFactory

__all__ = [
    "Factory",
    "JetStreamAggregateRecorder",
    "JetStreamApplicationRecorder",
    "JetStreamFactory",
    "JetStreamProcessRecorder",
    "JetStreamTrackingRecorder",
]
