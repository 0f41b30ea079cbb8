"""The ingest HTTP API on the real event store: a TestClient over ``create_app`` whose intake is
the real JetStream one (the session's nats-server, a fresh events stream per test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.app import create_app
from infra.bootstrap import LateIntake, open_intake
from infra.connections import connect_nats
from infra.feeds.intake import JetStreamFeedIntake
from infra.feeds.quarantine import HeldPayload
from infra.settings import Settings

TOKENS = {"tok-a": "prov-a", "tok-b": "prov-b"}
A = {"Authorization": "Bearer tok-a"}
B = {"Authorization": "Bearer tok-b"}
KICKOFF = "2016-03-05T12:45:00Z"
SCHEDULED: dict[str, Any] = {
    "type": "scheduled",
    "event_id": "fx-1",
    "sport": "football",
    "competition": "premier-league",
    "season": "2015-2016",
    "home": "Arsenal",
    "away": "Spurs",
    "kickoff": KICKOFF,
}
FIXTURE_KEY = {
    "sport": "football",
    "competition": "premier-league",
    "kickoff": KICKOFF,
    "home": "Arsenal",
    "away": "Spurs",
}
QUOTE: dict[str, Any] = {
    "event_id": "o1",
    "fixture": FIXTURE_KEY,
    "market": "1x2",
    "prices": {"home": "2.10", "draw": "3.40", "away": "3.60"},
    "quoted_at": "2016-03-03T10:00:00Z",
}


class IngestClient:
    def __init__(self, client: TestClient, late: LateIntake) -> None:
        self.http = client
        self._late = late

    @property
    def intake(self) -> JetStreamFeedIntake:
        assert self._late.intake is not None
        return self._late.intake

    def held(self, seq: int) -> HeldPayload:
        return self.http.portal.call(self.intake.quarantine_store.show, seq)  # type: ignore[union-attr]

    def stored(self) -> int:
        return self.intake.ingestion.recorder.max_notification_id() or 0


def _app(
    nats_url: str,
    stream: str,
    late: LateIntake,
    *,
    settings: Settings | None,
    wrap: Any,
    **options: Any,
) -> FastAPI:
    """The app on the real intake, opened by its lifespan (whichever server runs it)."""
    settings = (settings or Settings()).model_copy(update={"stream_name": stream})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nc = await connect_nats(nats_url, name="test-ingest")
        try:
            async with open_intake(settings, nats_url, nc, workers=4) as intake:
                late.intake = intake
                yield
        finally:
            late.intake = None
            await nc.drain()

    options.setdefault("feed_tokens", TOKENS)
    intake = wrap(late) if wrap is not None else late
    return create_app(version_probes=[], feed_intake=intake, lifespan=lifespan, **options)


@contextmanager
def ingest_client(
    nats_url: str,
    stream: str,
    *,
    settings: Settings | None = None,
    wrap: Any = None,
    **app_options: Any,
) -> Iterator[IngestClient]:
    """``settings`` gives the intake's settings (its stream is always ``stream``); ``wrap``
    puts something between the app and the real intake (fault injection)."""
    late = LateIntake()
    app = _app(nats_url, stream, late, settings=settings, wrap=wrap, **app_options)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield IngestClient(client, late)


class BytesPulled:
    """ASGI wrapper counting the request-body bytes the app pulled through ``receive``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.pulls: list[int] = []
        """Bytes of each body message pulled (the server hands over what it has buffered)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def counted() -> Any:
            message = await receive()
            if message.get("type") == "http.request":
                self.pulls.append(len(message.get("body", b"")))
            return message

        await self.app(scope, counted, send)


@contextmanager
def served(app: Any) -> Iterator[tuple[str, int]]:
    """``app`` served by a real uvicorn on a free loopback port, in a thread."""
    import threading
    import time

    import uvicorn

    from infra.embedded.ports import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # the app's start connects to the store: a loaded box
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(10)


def ingest_app(nats_url: str, stream: str, **app_options: Any) -> Any:
    """The ingest app on the real intake, for a server of its own (see :func:`served`)."""
    return _app(nats_url, stream, LateIntake(), settings=None, wrap=None, **app_options)
