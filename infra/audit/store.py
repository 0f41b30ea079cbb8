"""Where an audit reads the log from: a running NATS, or a copy of a JetStream store directory.

A copy is served by a private nats-server on a free loopback port over a temporary copy of the
directory, so the auditor's evidence is never written to and nothing else can reach it.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from nats.aio.client import Client as NATS
from nats.errors import NoServersError

from infra.audit.blocks import jetstream_root
from infra.audit.errors import StoreUnreachable
from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port


@asynccontextmanager
async def open_log(*, url: str | None = None, store_dir: Path | None = None) -> AsyncIterator[NATS]:
    """A NATS connection to the log: ``store_dir`` (a copy of one) wins over ``url``."""
    if store_dir is not None:
        async with served_copy(store_dir) as copy_url, _connected(copy_url) as nc:
            yield nc
        return
    if not url:
        raise StoreUnreachable("no NATS URL and no --store-dir given")
    async with _connected(url) as nc:
        yield nc


@asynccontextmanager
async def _connected(url: str) -> AsyncIterator[NATS]:
    try:
        async with asyncio.timeout(10):
            nc = await connect_nats(url, name="sportcast-audit", reconnect=False)
    except (OSError, NoServersError, TimeoutError) as error:
        detail = str(error) or type(error).__name__
        raise StoreUnreachable(f"cannot reach NATS at {url}: {detail}") from None
    try:
        yield nc
    finally:
        await nc.close()


@asynccontextmanager
async def served_copy(store_dir: Path) -> AsyncIterator[str]:
    """The URL of a private loopback nats-server over a temporary copy of ``store_dir``."""
    source = jetstream_root(store_dir)
    with tempfile.TemporaryDirectory(prefix="sportcast-audit-") as tmp:
        copy = Path(tmp) / "store"
        await asyncio.to_thread(shutil.copytree, source, copy / "jetstream")
        server = EmbeddedNats(
            NatsConfig(
                store_dir=copy,
                port=free_port(),
                monitor_port=free_port(),
                sync_always=False,
                server_name="sportcast-audit",
            )
        )
        await asyncio.to_thread(server.start)
        try:
            yield server.url
        finally:
            await asyncio.to_thread(server.stop)
