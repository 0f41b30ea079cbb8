"""A test's own loopback nats-server (plain TCP, no users), for tests that freeze, kill, restart
or tamper with their server; the session's shared one is conftest's ``nats_server``.

At the end the server is thawed if a test left it frozen, then stopped, also when the test failed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from tests.freezing import thaw


@contextlib.contextmanager
def own_nats(store_dir: Path, *, sync_always: bool = False) -> Iterator[EmbeddedNats]:
    """A started server keeping its JetStream store in ``store_dir``; ``sync_always`` fsyncs
    every write before acknowledging it (durability tests), off for speed otherwise."""
    server = EmbeddedNats(
        NatsConfig(
            store_dir=store_dir,
            port=free_port(),
            monitor_port=free_port(),
            sync_always=sync_always,
        )
    )
    server.start()
    try:
        yield server
    finally:
        if server.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                thaw(server.pid)
        server.stop()
