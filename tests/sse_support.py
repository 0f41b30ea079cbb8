"""For the stream tests: writers of real events, a gateway served by uvicorn, an SSE reader."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import nats
import uvicorn
from eventsourcing.application import Application
from eventsourcing.persistence import Transcoder
from fastapi import FastAPI

from commands.fixture import RecordGoal, ScheduleFixture, StartFixture
from commands.ingestion import FeedIngestion
from commands.odds import RecordOdds
from commands.transcodings import register_domain_transcodings
from domain.forecast import FixtureForecasts, Forecast
from domain.odds.margin import MarginMethod
from domain.odds.market import Market, Outcome
from domain.odds.price import PriceFormat
from domain.provenance import Provenance
from domain.sport import Side, Sport
from gateway.app import create_app
from gateway.ports import StreamAccess
from gateway.streams.hub import Hub, HubSettings
from gateway.streams.metrics import StreamMetrics
from infra.embedded.ports import free_port
from infra.eventstore.records import TOPIC
from infra.http_handover import HandoverHttpToolsProtocol
from infra.streams.source import event_logs
from readmodels.live import Log

KICKOFF = datetime(2018, 6, 14, 15, 0, tzinfo=UTC)
FEED = Provenance(source="feed", received_at=KICKOFF)


class ForecastsApp(Application):
    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)
        register_domain_transcodings(transcoder)


@dataclass
class Writers:
    """Real events into two fresh streams: fixtures, goals and odds; forecasts."""

    nats_url: str
    events_stream: str
    forecasts_stream: str
    feed: FeedIngestion = field(init=False)
    forecasts: ForecastsApp = field(init=False)
    _books: dict[UUID, FixtureForecasts] = field(default_factory=dict)
    _n: int = 0

    def __post_init__(self) -> None:
        env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": self.nats_url}
        self.feed = FeedIngestion({**env, "NATS_STREAM": self.events_stream})
        self.forecasts = ForecastsApp({**env, "NATS_STREAM": self.forecasts_stream})

    def _key(self) -> str:
        self._n += 1
        return f"k{self._n}"

    def fixture(
        self, competition: str, home: str, away: str, day: int = 0, sport: Sport = Sport.FOOTBALL
    ) -> UUID:
        cmd = ScheduleFixture(
            idempotency_key=self._key(),
            provenance=FEED,
            sport=sport,
            competition=competition,
            season="2018",
            home=home,
            away=away,
            kickoff=KICKOFF + timedelta(days=day),
        )
        self.feed.handle(cmd)
        self.feed.handle(
            StartFixture(idempotency_key=self._key(), provenance=FEED, fixture_id=cmd.fixture_id)
        )
        return cmd.fixture_id

    def goal(self, fixture: UUID, minute: int) -> None:
        self.feed.handle(
            RecordGoal(
                idempotency_key=self._key(),
                provenance=FEED,
                fixture_id=fixture,
                side=Side.HOME,
                minute=minute,
            )
        )

    def odds(self, fixture: UUID, home: str = "2.10") -> None:
        self.feed.handle(
            RecordOdds(
                idempotency_key=self._key(),
                provenance=FEED,
                fixture_id=fixture,
                source="book",
                market=Market.MATCH_RESULT,
                prices={Outcome.HOME: home, Outcome.DRAW: "3.40", Outcome.AWAY: "3.60"},
                price_format=PriceFormat.DECIMAL,
                margin_method=MarginMethod.PROPORTIONAL,
                quoted_at=KICKOFF - timedelta(hours=1),
            )
        )

    def forecast(self, fixture: UUID, model: str = "m1", p: float = 0.5) -> None:
        fc = Forecast(
            kickoff=KICKOFF,
            trigger="odds",
            model_id=model,
            artifact_hash="sha256:0",
            market="1x2",
            outcomes=("home", "draw", "away"),
            probabilities=(p, 0.3, 0.7 - p),
            market_probabilities=(0.45, 0.3, 0.25),
            features={"elo": 1.0},
            as_of_position=1,
            input_notification_ids=(1,),
        )
        book = self._books.get(fixture)
        if book is None:
            book = self._books[fixture] = FixtureForecasts.first(fixture, fc)
        else:
            book.issue(fc)
        self.forecasts.save(book)

    def close(self) -> None:
        self.feed.close()
        self.forecasts.close()


async def stored_topics(nats_url: str, stream: str) -> list[tuple[int, str]]:
    """(sequence, topic) of every event message in a stream, read back from JetStream."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            if ".evt." in (msg.subject or ""):
                out.append((seq, (msg.headers or {}).get(TOPIC, "")))
        return out
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def serve_streams(
    nats_url: str,
    events_stream: str,
    forecasts_stream: str,
    settings: HubSettings,
    access: StreamAccess | None = None,
    metrics: StreamMetrics | None = None,
    *,
    hand_over: bool = True,
) -> AsyncIterator[tuple[str, Hub]]:
    """A gateway with only its streams, served by uvicorn on a free loopback port (with the
    protocol the gateway runs, which hands stream connections over; ``hand_over=False``: plain
    httptools, the streams stay on ASGI)."""
    nc = await nats.connect(nats_url)
    events, forecasts = event_logs(
        nc, events_stream=events_stream, forecasts_stream=forecasts_stream
    )
    hub = Hub({Log.EVENTS: events, Log.FORECASTS: forecasts}, settings, metrics=metrics)
    app = create_app(version_probes=[], stream_access=access, lifespan=hub_lifespan(hub))
    try:
        async with served_by_uvicorn(app, hand_over=hand_over, stopping=hub.shutdown) as server:
            yield f"http://127.0.0.1:{server.config.port}", hub
    finally:
        await nc.close()


async def joined(hub: Hub, count: int = 1, within: float = 30.0) -> None:
    """Wait until ``count`` streams are in ``hub``'s live flow: an event written after that
    reaches each of them. (A stream opened without a resume starts at the hub's head, so an
    event written before it joined is not its to see.)"""
    async with asyncio.timeout(within):
        while len(hub.subscribers) < count:  # noqa: ASYNC110 (polls the hub, bounded)
            await asyncio.sleep(0.02)


async def followed(hub: Hub, log: Log, seq: int, within: float = 30.0) -> None:
    """Wait until ``hub`` has followed ``log`` up to ``seq`` (its replay buffer holds it)."""
    async with asyncio.timeout(within):
        while hub.heads[log] < seq:  # noqa: ASYNC110 (polls the hub, bounded)
            await asyncio.sleep(0.02)


def hub_lifespan(hub: Hub) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """A lifespan that runs ``hub`` as the app's stream hub."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        app.state.stream_hub = hub
        yield
        await hub.stop()

    return lifespan


@contextlib.asynccontextmanager
async def served_by_uvicorn(
    app: object, *, hand_over: bool = True, stopping: Callable[[], None] | None = None
) -> AsyncIterator[uvicorn.Server]:
    """``app`` served by uvicorn on a free loopback port, with the protocol the gateway runs
    (stream connections are handed over; ``hand_over=False``: plain httptools, the streams stay
    on ASGI); ``stopping`` is called as the server is told to exit."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,  # type: ignore[arg-type]
            host="127.0.0.1",
            port=free_port(),
            log_level="warning",
            lifespan="on",
            http=HandoverHttpToolsProtocol if hand_over else "httptools",
        )
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
            await asyncio.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        if stopping is not None:
            stopping()
        async with asyncio.timeout(60):
            await task


@dataclass
class Frame:
    id: str | None = None
    event: str | None = None
    data: str = ""
    retry: int | None = None
    comment: str | None = None


async def read_frames(response: httpx.Response) -> AsyncIterator[Frame]:
    """Frames and comments as a client sees them (httpx-sse drops comments)."""
    frame = Frame()
    async for line in response.aiter_lines():
        if line == "":
            if frame.event is not None or frame.data or frame.retry is not None:
                yield frame
            frame = Frame()
        elif line.startswith(":"):
            yield Frame(comment=line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                frame.id = value
            elif name == "event":
                frame.event = value
            elif name == "data":
                frame.data = value
            elif name == "retry":
                frame.retry = int(value)
