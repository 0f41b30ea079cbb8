"""Least privilege on NATS: which subjects each sportcast service may publish and subscribe to.

One user per role (docs/adr/0011):

``admin``       set-up only (``sportcast`` commands that create streams): every subject, but no
                stream or message delete, purge, restore or peer removal.
``ingest``      the feed intake: publishes feed subjects only (the events stream, feed health,
                raw payloads, quarantine).
``forecaster``  the forecaster and trainer: publishes forecast subjects only (forecasts, model
                registry, the model object store).
``reader``      gateways' read side, projectors, the auditor: publishes nothing but read requests.
``checkpointer`` signed checkpoints: publishes only the checkpoint subject (``es.<stream>.chk``)
                of the streams it seals (events, forecasts, feed health).
``stack``       the embedded all-in-one process (`sportcast up`): every service role together.

No service user may create, update, delete or purge a stream (issue 13: an update with
``max_msgs`` + ``discard: old`` deletes history despite ``deny_delete``); reads need the
JetStream read API (stream info, Direct Get, ephemeral consumers) and replies on ``_INBOX.>``.
Subjects come from the stream names in the settings, so the server's block and the services
always agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

EMBEDDED_USERS_DIR = "nats-users"  # under the state directory: the embedded stack's NKey seeds


class Role(StrEnum):
    ADMIN = "admin"
    INGEST = "ingest"
    FORECASTER = "forecaster"
    READER = "reader"
    CHECKPOINTER = "checkpointer"
    STACK = "stack"


def embedded_seed_file(users_dir: Path, role: Role) -> Path:
    """Where the embedded stack keeps ``role``'s NKey seed (``<state>/nats-users/<role>.nk``)."""
    return users_dir / f"{role.value}.nk"


SERVICE_ROLES = (Role.INGEST, Role.FORECASTER, Role.READER, Role.CHECKPOINTER, Role.STACK)

# What reading a stream takes: stream info (a store checks its stream's configuration), Direct
# Get (wire.py, reader.py), ephemeral pull consumers (wire.py's long reads, nats-py's fetch),
# acknowledgements and flow control of consumers.
READ_API = (
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.>",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.MSG.GET.>",
    "$JS.API.DIRECT.GET.>",
    "$JS.API.CONSUMER.CREATE.>",
    "$JS.API.CONSUMER.DURABLE.CREATE.>",
    "$JS.API.CONSUMER.INFO.>",
    "$JS.API.CONSUMER.NAMES.>",
    "$JS.API.CONSUMER.LIST.>",
    "$JS.API.CONSUMER.MSG.NEXT.>",
    "$JS.API.CONSUMER.DELETE.>",
    "$JS.ACK.>",
    "$JS.FC.>",
)
# Never, for anyone: what removes stored messages or replaces a stream.
NEVER = (
    "$JS.API.STREAM.DELETE.>",
    "$JS.API.STREAM.PURGE.>",
    "$JS.API.STREAM.MSG.DELETE.>",
    "$JS.API.STREAM.RESTORE.>",
    "$JS.API.STREAM.PEER.REMOVE.>",
)
# Never for a service: the stream's configuration is the admin's (created at set-up).
ADMIN_ONLY = (
    "$JS.API.STREAM.CREATE.>",
    "$JS.API.STREAM.UPDATE.>",
)
SERVICE_SUBSCRIBE = (
    "_INBOX.>",  # replies: acknowledgements, Direct Get, consumer deliveries
    "esn.>",  # the event store's wake-ups (header-only republish of stored events)
    "$JS.EVENT.ADVISORY.STREAM.>",  # stream configuration changes (the stream watch)
)


@dataclass(frozen=True, kw_only=True)
class StreamNames:
    """The streams whose subjects the roles write (from the settings)."""

    events: str = "SPORTCAST_EVENTS"
    demo_history: str = "SPORTCAST_EVENTS_DEMO_HISTORY"  # the demo's simulated past seasons
    replay_history: str = "SPORTCAST_EVENTS_REPLAY_HISTORY"  # the datasets' (`up --replay`)
    feed_health: str = "SPORTCAST_FEED_HEALTH"
    payloads_prefix: str = "payloads"
    quarantine_prefix: str = "quarantine"
    forecasts: str = "SPORTCAST_FORECASTS"
    model_registry: str = "SPORTCAST_MODEL_REGISTRY"
    model_bucket: str = "SPORTCAST_MODELS"

    def event_streams(self) -> list[str]:
        """The event store's streams (one per eventsourcing Application): what set-up makes,
        the checkpointer seals and the audit verifies."""
        return [
            self.events,
            self.demo_history,
            self.replay_history,
            self.feed_health,
            self.forecasts,
            self.model_registry,
        ]


def writes(role: Role, streams: StreamNames) -> list[str]:
    """The subjects ``role`` may publish data on (besides the read API)."""
    feed = [
        f"es.{streams.events}.>",
        f"es.{streams.demo_history}.>",
        f"es.{streams.replay_history}.>",
        f"es.{streams.feed_health}.>",
        f"{streams.payloads_prefix}.>",
        f"{streams.quarantine_prefix}.>",
    ]
    forecast = [
        f"es.{streams.forecasts}.>",
        f"es.{streams.model_registry}.>",
        f"$O.{streams.model_bucket}.>",  # the object store's chunks and metadata
    ]
    checkpoints = [f"es.{stream}.chk" for stream in streams.event_streams()]
    return {
        Role.ADMIN: [">"],
        Role.INGEST: feed,
        Role.FORECASTER: forecast,
        Role.READER: [],
        Role.CHECKPOINTER: checkpoints,
        Role.STACK: feed + forecast,
    }[role]


def permissions(role: Role, streams: StreamNames) -> dict[str, Any]:
    """The server's ``permissions`` map for ``role``."""
    if role is Role.ADMIN:
        return {
            "publish": {"allow": [">"], "deny": list(NEVER)},
            "subscribe": {"allow": [">"]},
        }
    return {
        "publish": {
            "allow": [*writes(role, streams), *READ_API],
            "deny": [*NEVER, *ADMIN_ONLY],
        },
        "subscribe": {"allow": list(SERVICE_SUBSCRIBE)},
    }


def authorization_block(
    users: Sequence[tuple[Mapping[str, str], Role]], streams: StreamNames
) -> str:
    """An ``authorization`` block for nats-server.conf (JSON is valid NATS config syntax).

    Each user is its identity (``{"nkey": "U..."}`` or ``{"user": ..., "password": ...}``;
    a password may be ``$ENV_VAR``, which the server resolves) and its role.
    """
    entries = [{**identity, "permissions": permissions(role, streams)} for identity, role in users]
    body = json.dumps({"users": entries}, indent=2)
    # The server reads ``$NAME`` unquoted as a variable reference.
    for identity, _ in users:
        for value in identity.values():
            if value.startswith("$"):
                body = body.replace(json.dumps(value), value)
    return f"authorization: {body}\n"
