"""One nats-py connection owned by a background thread running an asyncio loop.

eventsourcing's recorders are synchronous and called from many threads; they submit coroutines
to this loop and wait for the result, so every thread shares one connection and one write path.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import nats
from nats.aio.client import Client as NATS

from infra.eventstore.errors import EventStoreUnavailable

T = TypeVar("T")


class NatsLink:
    """Start with :meth:`open`, submit work with :meth:`run`, end with :meth:`close`."""

    def __init__(self, url: str, *, name: str = "sportcast-eventstore") -> None:
        self.url = url
        self._name = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._nc: NATS | None = None

    @property
    def nc(self) -> NATS:
        assert self._nc is not None, "NatsLink.open() first"
        return self._nc

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def open(self, *, timeout: float = 10.0) -> None:
        self._thread.start()
        try:
            self._nc = self.run(self._connect(), timeout=timeout)
        except Exception as exc:
            self._stop_loop()
            raise EventStoreUnavailable(f"cannot connect to NATS at {self.url}: {exc}") from exc

    async def _connect(self) -> NATS:
        # Reconnect forever: a restarted server is picked up without restarting the app.
        return await nats.connect(
            servers=[u.strip() for u in self.url.split(",")],  # several URLs: a cluster
            name=self._name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.1,
            connect_timeout=5,
            pending_size=64 * 1024 * 1024,
        )

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):  # closing anyway; the server may be gone
                self.run(self._nc.close(), timeout=5)
        self._stop_loop()

    def _stop_loop(self) -> None:
        # Cancel what is still running (e.g. a read a caller gave up on) before the loop ends.
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_cancel_all(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


async def _cancel_all() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
