"""One nats-py connection owned by a background thread running an asyncio loop.

eventsourcing's recorders are synchronous and called from many threads; they submit coroutines
to this loop and wait for the result, so every thread shares one connection and one write path.

The hop is cheaper than ``run_coroutine_threadsafe`` + ``concurrent.futures.Future.result``,
which cost a self-pipe write per call and a ``Condition`` notify per result (a fifth of the
loop thread's time with 16 writers): calls queue in a deque, one wake-up drains all that
queued meanwhile, and each caller waits on a plain lock that the task's done-callback releases.
:meth:`NatsLink.call` goes further for work that usually needs no task: the drain calls a plain
function that settles the caller from callbacks (the event store's common single-message save).

The link also owns the write path's own publish connection (wire_publish.py), made on demand,
and the read path's pool of protocol clients (wire.py); both use the link's TLS and credentials
(security.py) or are not used at all (``NATS_WIRE=no``), and the link logs once, when it opens,
which path serves reads and writes and why. Every factory of a process shares one link per
server and credentials (:func:`acquire_link`), so a process has one loop thread and one set of
connections however many Applications it runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

import nats
from nats.aio.client import Client as NATS

from infra.connection_state import ConnectionState
from infra.eventstore.denials import Denials
from infra.eventstore.errors import EventStoreUnavailable
from infra.eventstore.security import NatsSecurity
from infra.eventstore.wire import WireClient, WireUnsupported, parse_urls
from infra.eventstore.wire_publish import WirePublisher

log = logging.getLogger("sportcast.eventstore")

T = TypeVar("T")
_CLOSE_CHECK = 0.5
"""A waiting caller looks every this many seconds whether the link has closed."""

# What a callback-style call is given: settle(result, None) or settle(None, error), once.
Settle = Callable[[T | None, BaseException | None], None]


class _Call(Generic[T]):
    __slots__ = ("coro", "done", "error", "result", "start")

    def __init__(
        self,
        coro: Coroutine[Any, Any, T] | None,
        start: Callable[[Settle[T]], None] | None = None,
    ) -> None:
        self.coro = coro
        self.start = start
        self.done = threading.Lock()
        self.done.acquire()  # released once the coroutine has finished
        self.result: T | None = None
        self.error: BaseException | None = None

    def settle(self, task: asyncio.Task[T]) -> None:
        if task.cancelled():
            self.error = concurrent.futures.CancelledError()
        elif (error := task.exception()) is not None:
            self.error = error
        else:
            self.result = task.result()
        self.done.release()

    def resolve(self, result: T | None, error: BaseException | None) -> None:
        self.result = result
        self.error = error
        self.done.release()

    def fail(self, error: BaseException) -> None:
        if self.coro is not None:
            self.coro.close()
        self.error = error
        self.done.release()


class NatsLink:
    """Start with :meth:`open`, submit work with :meth:`run`, end with :meth:`close`."""

    def __init__(
        self,
        url: str,
        *,
        security: NatsSecurity | None = None,
        wire: bool = True,
        name: str = "sportcast-eventstore",
    ) -> None:
        self.url = url
        self.security = security or NatsSecurity()
        self.wire_refused = _wire_refusal(url, wire)  # why our own clients are not used, or ""
        self.denials = Denials()  # permission violations the server reported on any connection
        self._name = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._nc: NATS | None = None
        self._calls: deque[_Call[Any]] = deque()
        self._drain_scheduled = False
        self._closing = False
        self._publisher: WirePublisher | None = None
        self._publisher_made = False
        self._publisher_lock = threading.Lock()

    @property
    def nc(self) -> NATS:
        assert self._nc is not None, "NatsLink.open() first"
        return self._nc

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def is_open(self) -> bool:
        return self._thread.is_alive() and not self._closing

    def open(self, *, timeout: float = 10.0) -> None:
        self._thread.start()
        try:
            self._nc = self.run(self._connect(), timeout=timeout)
        except Exception as exc:
            self._stop_loop()
            raise EventStoreUnavailable(f"cannot connect to NATS at {self.url}: {exc}") from exc
        log.info("event store on %s: %s", self.url, self.paths())

    def paths(self) -> str:
        """Which path serves reads and writes, and why (logged once, when the link opens)."""
        tls = "TLS" if self.security.wants_tls(self.url) else "plain TCP"
        how = f"{tls}, credentials: {self.security.credentials}"
        if self.wire_refused:
            return f"reads and writes through nats-py ({how}) because {self.wire_refused}"
        return (
            "reads through our Direct Get client (wire.py) and writes through our publisher "
            f"(wire_publish.py), nats-py wherever they cannot serve ({how})"
        )

    async def _connect(self) -> NATS:
        # Reconnect forever: a restarted server is picked up without restarting the app.
        state = ConnectionState(self._name, self.denials)  # one log line per change of state
        nc = await nats.connect(
            servers=[u.strip() for u in self.url.split(",")],  # several URLs: a cluster
            name=self._name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.1,
            connect_timeout=5,
            pending_size=64 * 1024 * 1024,
            **self.security.nats_py_options(self.url),
            **state.callbacks(),
        )
        state.first_connected(nc)
        return nc

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (TimeoutError after ``timeout``).

        As with ``run_coroutine_threadsafe``, a call that times out is not cancelled.
        """
        return self._wait(_Call(coro), timeout)

    def call(self, start: Callable[[Settle[T]], None], *, timeout: float | None = None) -> T:
        """Call ``start(settle)`` on the loop and wait until it calls ``settle`` (or raises)."""
        return self._wait(_Call(None, start), timeout)

    def publisher(self) -> WirePublisher | None:
        """The write path's own connection (None where only nats-py can speak to the server)."""
        with self._publisher_lock:
            if not self._publisher_made:
                self._publisher_made = True
                if self.wire_refused:
                    return None
                self._publisher = WirePublisher(
                    self.url, self._loop, security=self.security, denials=self.denials
                )
                with contextlib.suppress(Exception):  # unreachable now: nats-py serves meanwhile
                    self.run(self._publisher.connect(), timeout=10)
            return self._publisher

    def reads_client(self, stream: str) -> WireClient | None:
        """A pool of our own read connections for ``stream`` (None: nats-py serves reads)."""
        if self.wire_refused:
            return None
        return WireClient(self.url, stream, security=self.security, denials=self.denials)

    def _wait(self, call: _Call[T], timeout: float | None) -> T:
        if self._closing or not self._thread.is_alive():
            call.fail(EventStoreUnavailable("the event store's NATS link is closed"))
        else:
            self._calls.append(call)
            # At most one wake-up pending: it drains every call queued before it runs. The
            # drain clears the flag *before* it empties the deque, so a call appended after
            # the last pop always sees the flag down and schedules a new drain.
            if not self._drain_scheduled:
                self._drain_scheduled = True
                self._loop.call_soon_threadsafe(self._drain)
        first = _CLOSE_CHECK if timeout is None else min(timeout, _CLOSE_CHECK)
        if not call.done.acquire(timeout=first) and not self._waited(
            call, None if timeout is None else timeout - first
        ):
            raise TimeoutError(f"no result from the NATS loop within {timeout}s")
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]

    def _waited(self, call: _Call[Any], timeout: float | None) -> bool:
        """Wait on for ``call`` in slices, so a caller leaves once the link closes (whatever
        is in flight then is never answered: a server gone mid-read would otherwise hold its
        thread, and a process's exit, until the timeout, or forever without one)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = _CLOSE_CHECK if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            if call.done.acquire(timeout=min(left, _CLOSE_CHECK)):
                return True
            if self._closing:
                raise EventStoreUnavailable("the event store's NATS link closed while waiting")

    def _drain(self) -> None:
        self._drain_scheduled = False
        calls = self._calls
        create_task = self._loop.create_task
        while calls:
            call = calls.popleft()
            if call.start is not None:
                try:
                    call.start(call.resolve)
                except BaseException as exc:  # raised before handing ``settle`` anything
                    call.resolve(None, exc)
                continue
            assert call.coro is not None
            create_task(call.coro).add_done_callback(call.settle)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                self.run(_close_publisher(self._publisher), timeout=5)
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):  # closing anyway; the server may be gone
                self.run(self._nc.close(), timeout=5)
        self._stop_loop()

    def _stop_loop(self) -> None:
        # Cancel what is still running (e.g. a read a caller gave up on) before the loop ends.
        self._closing = True
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_cancel_all(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        while self._calls:  # queued while closing: never started
            self._calls.popleft().fail(EventStoreUnavailable("the NATS link was closed"))


def _wire_refusal(url: str, wire: bool) -> str:
    if not wire:
        return "the hand-written paths are switched off (SPORTCAST_NATS_WIRE=false / NATS_WIRE=no)"
    try:
        parse_urls(url)
    except WireUnsupported as exc:
        return str(exc)
    return ""


class _SharedLinks:
    """The process's links, one per (server, credentials, paths), counted by their users."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._links: dict[tuple[str, NatsSecurity, bool], tuple[NatsLink, int]] = {}

    def acquire(self, url: str, security: NatsSecurity, wire: bool) -> NatsLink:
        key = (url, security, wire)
        with self._lock:
            held = self._links.get(key)
            if held is not None and held[0].is_open:
                self._links[key] = (held[0], held[1] + 1)
                return held[0]
            link = NatsLink(url, security=security, wire=wire)
            link.open()  # EventStoreUnavailable: nothing registered
            self._links[key] = (link, 1)
            return link

    def release(self, link: NatsLink) -> None:
        with self._lock:
            for key, (held, users) in list(self._links.items()):
                if held is link:
                    if users > 1:
                        self._links[key] = (held, users - 1)
                        return
                    del self._links[key]
                    break
        link.close()


_shared = _SharedLinks()


def acquire_link(url: str, security: NatsSecurity, *, wire: bool = True) -> NatsLink:
    """The process's link to ``url`` with ``security`` (opened by the first caller)."""
    return _shared.acquire(url, security, wire)


def release_link(link: NatsLink) -> None:
    """One user fewer; the last one closes the link."""
    _shared.release(link)


async def _close_publisher(publisher: WirePublisher) -> None:
    publisher.close()


async def _cancel_all() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
