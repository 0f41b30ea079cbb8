"""The projector as the settings describe it: the streams' logs, the projections, the runner."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from infra.connections import connect_nats
from infra.eventstore.settings import CREATE_STREAM
from infra.feeds.quarantine import Quarantine
from infra.projections.logs import EmptyLog, QuarantineLog, StoreEventLog
from infra.projections.metrics import instrument_projector
from infra.projections.stopping import StopDeadline
from infra.settings import Settings
from projections.catalogue import postgres_projections
from projections.log import EventLog
from projections.projection import Projection
from projections.runner import ProjectionRunner


def stream_envs(settings: Settings, nats_url: str) -> dict[str, dict[str, str]]:
    """Each event-store stream the projections follow, as eventsourcing's environment."""
    from infra.bootstrap import event_store_env  # here: bootstrap imports this module

    base = event_store_env(settings, nats_url)
    return {
        "events": base,
        "forecasts": {**base, "NATS_STREAM": settings.forecaster_stream},
        "feed_health": {**base, "NATS_STREAM": settings.feed_health_stream},
    }


def log_streams(settings: Settings) -> dict[str, str]:
    """Each log the projections follow, by their name for it, as its JetStream stream."""
    return {
        "events": settings.stream_name,
        "forecasts": settings.forecaster_stream,
        "feed_health": settings.feed_health_stream,
        "quarantine": Quarantine.default_stream,
    }


@dataclass
class Logs:
    logs: dict[str, EventLog]
    nc: NATS
    _stores: list[StoreEventLog]

    async def close(self) -> None:
        for store in self._stores:
            await asyncio.to_thread(store.close)
        with contextlib.suppress(Exception):
            await self.nc.close()


@asynccontextmanager
async def open_logs(
    settings: Settings, nats_url: str, *, reconnect: bool = True, read_only: bool = False
) -> AsyncIterator[Logs]:
    """``reconnect=False`` (one-shot commands): a server that is down or refuses the
    credentials fails the first connection at once instead of being retried forever.
    ``read_only`` (replay, audit): nothing is created or changed in NATS, so the least
    privileged ``reader`` user will do; a stream not made yet is an empty log."""
    nc = await connect_nats(nats_url, name="sportcast-projector", reconnect=reconnect)
    stores: list[StoreEventLog] = []
    logs: dict[str, EventLog] = {}
    try:
        for name, env in stream_envs(settings, nats_url).items():
            if read_only and not await _stream_exists(nc, env["NATS_STREAM"]):
                logs[name] = EmptyLog(name)
                continue
            if read_only:
                env = {**env, CREATE_STREAM: "no"}
            stores.append(await asyncio.to_thread(StoreEventLog, name, env))
            logs[name] = stores[-1]
        quarantine = Quarantine(nc.jetstream(), replicas=settings.stream_replicas)
        if not read_only:
            await quarantine.ensure_stream()
        if read_only and not await _stream_exists(nc, quarantine.stream):
            logs["quarantine"] = EmptyLog("quarantine")
        else:
            logs["quarantine"] = QuarantineLog(nc, quarantine.stream, quarantine.prefix)
    except BaseException:
        await Logs({}, nc, stores).close()
        raise
    opened = Logs(logs, nc, stores)
    try:
        yield opened
    finally:
        await opened.close()


async def _stream_exists(nc: NATS, stream: str) -> bool:
    try:
        await nc.jetstream().stream_info(stream)
    except NotFoundError:
        return False
    return True


@asynccontextmanager
async def running_projector(
    settings: Settings,
    nats_url: str,
    postgres_url: str,
    *,
    names: list[str] | None = None,
    extra: Sequence[Projection] = (),
) -> AsyncIterator[ProjectionRunner]:
    """Every PostgreSQL projection (or those named), plus ``extra`` ones (e.g. analytics),
    running until the context exits."""
    async with open_logs(settings, nats_url) as logs:
        projections: list[Projection] = [*postgres_projections(postgres_url, names), *extra]
        runner = ProjectionRunner(
            projections,
            logs.logs,
            page_size=settings.projector_page_events,
            share_reads=settings.projector_share_reads,
        )
        with instrument_projector(runner):
            async with runner:
                yield runner


async def serve_projector(settings: Settings, stopping: asyncio.Event) -> ProjectionRunner:
    """`sportcast serve projector`: run every projection until ``stopping`` is set, then stop
    within STOP_WITHIN seconds (infra/projections/stopping.py)."""
    async with running_projector(
        settings, settings.nats_client_url, settings.postgres_client_url
    ) as runner:
        await stopping.wait()
        deadline = StopDeadline(runner)
    deadline.stopped()
    return runner
