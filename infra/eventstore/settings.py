"""The event store's settings, read from an eventsourcing ``Environment``.

The composition root fills these keys from the settings model (infra/settings.py, which also
accepts them under these names); eventsourcing hands them to the factory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eventsourcing.utils import Environment, strtobool

from infra.eventstore.security import NatsSecurity

NATS_URL = "NATS_URL"
NATS_STREAM = "NATS_STREAM"
NATS_REPLICAS = "NATS_REPLICAS"
NATS_DUPLICATE_WINDOW = "NATS_DUPLICATE_WINDOW"
NATS_SAVE_TIMEOUT = "NATS_SAVE_TIMEOUT"
NATS_CHAIN_KEY = "NATS_CHAIN_KEY"
NATS_WIRE = "NATS_WIRE"  # "no": our own protocol clients off, nats-py serves every call
NATS_LINK = "NATS_LINK"  # "own": a link of this factory's own instead of the process's shared one
CREATE_STREAM = "CREATE_TABLE"  # eventsourcing's own name for "create storage on first use"


@dataclass(frozen=True, kw_only=True)
class EventStoreSettings:
    url: str = "nats://127.0.0.1:4222"
    stream: str = "SPORTCAST_EVENTS"
    replicas: int = 1
    duplicate_window: float = 120.0  # seconds JetStream remembers a Nats-Msg-Id
    save_timeout: float = 10.0  # how long a save keeps retrying through a reconnect
    chain_key: bytes = b""  # optional secret: makes the hash chain unforgeable (HMAC)
    create_stream: bool = True
    security: NatsSecurity = field(default_factory=NatsSecurity)
    wire: bool = True  # our own protocol clients (wire.py, wire_publish.py) where they can serve
    shared_link: bool = True  # one NATS link per process, whichever Application asks

    @classmethod
    def from_environment(cls, env: Environment) -> EventStoreSettings:
        defaults = cls()
        return cls(
            url=env.get(NATS_URL) or defaults.url,
            stream=env.get(NATS_STREAM) or defaults.stream,
            replicas=int(env.get(NATS_REPLICAS) or defaults.replicas),
            duplicate_window=float(env.get(NATS_DUPLICATE_WINDOW) or defaults.duplicate_window),
            save_timeout=float(env.get(NATS_SAVE_TIMEOUT) or defaults.save_timeout),
            chain_key=(env.get(NATS_CHAIN_KEY) or "").encode(),
            create_stream=strtobool(env.get(CREATE_STREAM) or "yes"),
            security=NatsSecurity.from_environment(env),
            wire=strtobool(env.get(NATS_WIRE) or "yes"),
            shared_link=(env.get(NATS_LINK) or "shared").strip().lower() != "own",
        )
