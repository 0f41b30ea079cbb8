"""A dataset replay shared out between worker processes, so that every core applies the feed.

One process applies commands about as fast as one core allows: the domain and eventsourcing's
machinery are pure Python and hold the GIL, so more threads do not help. ``play_in_parallel``
gives each of N worker processes whole groups (competitions; football's eight leagues),
balanced by size; each reads its share of the dataset, opens its own NATS connection and
intake, and plays its messages with its own :class:`~infra.feeds.player.FeedPlayer`. All start
together once all have loaded, so the report's seconds are the time spent applying the feed.

What holds (docs/adr/0006, "Parallel replay"):

- A fixture belongs to one group and a group to one worker, so each fixture's messages are
  applied in order by one player, and every aggregate has one writer; receipts make a second
  replay add nothing, whichever worker a group lands on.
- Within a group, the store keeps its player's order: event order, give or take the window.
- Across groups there is no order: one league may be stored hours or days of event time ahead
  of another. Consumers that need order across competitions must sort by event time; the
  forecaster does not, as its features are per competition and it judges lateness by each
  quote's own time against its fixture's kick-off.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import queue
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from domain.odds import MarginMethod
from infra.bootstrap import open_intake
from infra.connections import connect_nats
from infra.feeds.player import FeedPlayer, PlayReport
from infra.feeds.replay import Replay
from infra.settings import Settings

READY_TIMEOUT = 600.0  # seconds for every worker to read its share and connect
CONNECT_TIMEOUT = 10.0
COLLECTOR_THRESHOLDS = (50_000, 20, 20)
"""A worker's cyclic garbage collector thresholds. A replay allocates millions of short-lived
objects (commands, events, stored records) and makes next to no cyclic garbage; at Python's
default (700, 10, 10) the collector took about a seventh of a worker's CPU, at these under a
fiftieth. Worker processes only: a long-running service keeps the defaults."""


@dataclass(frozen=True, kw_only=True)
class ReplayShare:
    """What one worker plays: everything it needs, picklable (a worker is a fresh process)."""

    settings: Settings
    nats_url: str
    data_dir: Path
    source: str
    since: date | None = None
    until: date | None = None
    margin_method: MarginMethod = MarginMethod.PROPORTIONAL
    groups: tuple[str, ...] | None = None
    player_source: str = ""
    lanes: int = 1
    run: int = 300
    window: int | None = None
    speed: float | None = None


class WorkerFailed(RuntimeError):
    """A worker could not load, connect or play its share; the others were stopped."""


def share_out(sizes: Mapping[str, int], workers: int) -> list[tuple[str, ...]]:
    """Groups into at most ``workers`` shares of about equal size (largest first, each to
    the smallest share so far); never an empty share."""
    shares: list[list[str]] = [[] for _ in range(max(1, min(workers, len(sizes))))]
    loads = [0] * len(shares)
    for group, size in sorted(sizes.items(), key=lambda gs: (-gs[1], gs[0])):
        smallest = loads.index(min(loads))
        shares[smallest].append(group)
        loads[smallest] += size
    return [tuple(sorted(share)) for share in shares if share]


def play_in_parallel(
    template: ReplayShare,
    groups: list[tuple[str, ...]],
    *,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[PlayReport, list[PlayReport]]:
    """Play ``template``'s replay with a worker process per entry of ``groups`` (see
    :func:`share_out`); the combined report (seconds: from the common start to the last
    worker's end) and each worker's own."""
    shares = [replace(template, groups=g) for g in groups]
    if not shares:
        return PlayReport(), []
    context = multiprocessing.get_context("spawn")  # a clean process: no inherited threads
    outbox: Queue[tuple[Any, ...]] = context.Queue()
    go = context.Event()
    processes = [
        context.Process(
            target=_work, args=(share, n, outbox, go), name=f"sportcast-replay-{n}", daemon=True
        )
        for n, share in enumerate(shares)
    ]
    for p in processes:
        p.start()
    try:
        _collect(outbox, processes, "ready", deadline=time.monotonic() + READY_TIMEOUT)
        started = time.perf_counter()
        go.set()
        reports = _collect(outbox, processes, "done", on_progress=on_progress)
        seconds = time.perf_counter() - started
        for p in processes:
            p.join(timeout=30)  # done: they close their connections and exit
    finally:
        for p in processes:
            if p.is_alive():
                p.terminate()  # an atomic save is whole or absent: nothing is half-written
            p.join()
    ordered = [reports[n] for n in range(len(shares))]
    return PlayReport.combine(ordered, seconds=seconds), ordered


def _collect(
    outbox: Queue[tuple[Any, ...]],
    processes: Sequence[BaseProcess],
    wanted: str,
    *,
    deadline: float | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[int, Any]:
    """Wait for a ``wanted`` message from every worker, passing progress on; a worker that
    fails or dies stops the wait."""
    got: dict[int, Any] = {}
    progress = [0] * len(processes)
    while len(got) < len(processes):
        if deadline is not None and time.monotonic() > deadline:
            raise WorkerFailed(f"workers not {wanted} within {READY_TIMEOUT:.0f} s")
        try:
            kind, n, payload = outbox.get(timeout=0.5)
        except queue.Empty:
            dead = [p for n, p in enumerate(processes) if n not in got and not p.is_alive()]
            if not dead:
                continue
            try:  # what it sent just before it exited may only now be readable
                kind, n, payload = outbox.get(timeout=2.0)
            except queue.Empty:
                name, code = dead[0].name, dead[0].exitcode
                raise WorkerFailed(f"{name} exited with code {code}") from None
        if kind == "failed":
            raise WorkerFailed(f"replay worker {n}: {payload}")
        if kind == "progress":
            progress[n] = payload
            if on_progress is not None:
                on_progress(sum(progress))
        elif kind == wanted:
            got[n] = payload
    return got


def _work(share: ReplayShare, n: int, outbox: Queue[tuple[Any, ...]], go: Event) -> None:
    """A worker process: read the share, connect, say ready, wait for go, play, report."""
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    try:
        replayer = Replay(
            share.data_dir,
            margin_method=share.margin_method,
            since=share.since,
            until=share.until,
            groups=share.groups,
        )
        messages = replayer.messages(share.source)
        report = asyncio.run(_play(share, n, messages, outbox, go))
        outbox.put(("done", n, report))
    except BaseException as exc:  # reported to the parent, which stops the others
        outbox.put(("failed", n, f"{type(exc).__name__}: {exc}"))
        raise


async def _play(
    share: ReplayShare,
    n: int,
    messages: list[Any],
    outbox: Queue[tuple[Any, ...]],
    go: Event,
) -> PlayReport:
    connecting = connect_nats(share.nats_url, name=f"sportcast-replay-{n}")
    nc = await asyncio.wait_for(connecting, CONNECT_TIMEOUT)
    try:
        async with open_intake(share.settings, share.nats_url, nc, workers=share.lanes) as intake:
            player = FeedPlayer(
                intake,
                source=share.player_source or f"replay-{share.source}",
                lanes=share.lanes,
                run=share.run,
                window=share.window,
                speed=share.speed,
                on_progress=lambda r: outbox.put(("progress", n, r.handled)),
            )
            outbox.put(("ready", n, len(messages)))
            if not await asyncio.to_thread(go.wait, READY_TIMEOUT):
                raise WorkerFailed("no start signal: the parent process is gone")
            report = await player.play(messages)
            outbox.put(("progress", n, report.handled))
            return report
    finally:
        await nc.drain()
