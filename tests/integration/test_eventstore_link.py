"""NatsLink's hop from caller threads into the loop: results, errors, timeouts, closing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from infra.eventstore.errors import EventStoreUnavailable
from infra.eventstore.link import NatsLink


@pytest.fixture
def link(nats_url: str) -> Iterator[NatsLink]:
    made = NatsLink(nats_url, name="test-link")
    made.open()
    try:
        yield made
    finally:
        made.close()


async def _double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


async def _fail() -> None:
    raise KeyError("boom")


def test_many_threads_get_their_own_results(link: NatsLink) -> None:
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: link.run(_double(i), timeout=10), range(2000)))
    assert results == [2 * i for i in range(2000)]


def test_errors_raise_in_the_caller(link: NatsLink) -> None:
    with pytest.raises(KeyError, match="boom"):
        link.run(_fail(), timeout=5)
    assert link.run(_double(4), timeout=5) == 8  # the link still works


def test_a_timed_out_call_raises_and_keeps_running(link: NatsLink) -> None:
    release, finished = threading.Event(), threading.Event()

    async def slow() -> None:  # ends only after the caller has timed out, however loaded the box
        await asyncio.to_thread(release.wait)
        finished.set()

    with pytest.raises(TimeoutError):
        link.run(slow(), timeout=0.05)
    release.set()
    assert finished.wait(30)


def test_calls_after_close_fail_instead_of_hanging(nats_url: str) -> None:
    closed = NatsLink(nats_url, name="test-link-closed")
    closed.open()
    closed.close()
    with pytest.raises(EventStoreUnavailable):
        closed.run(_double(1), timeout=5)
