"""The SSE streams against a real nats-server: resume, resets, filters, heartbeat, churn."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
from dataclasses import dataclass

import httpx
import pytest
from starlette.requests import Request

from domain.sport import Sport
from gateway.streams.hub import HubSettings
from readmodels.live import Log
from tests.sse_support import (
    Frame,
    Writers,
    followed,
    joined,
    read_frames,
    serve_streams,
    stored_topics,
)

SETTINGS = HubSettings(heartbeat_seconds=30, buffer_events=5, replay_limit=10_000)


async def collect(
    url: str,
    *,
    last_event_id: str | None = None,
    until: int | None = None,
    count: int | None = None,
    seconds: float = 30.0,  # a deadline only (each caller waits for a count or an id)
    query: str = "",
    use_query_param: bool = False,
) -> list[Frame]:
    """Frames (comments left out) until one with id ``until``, ``count`` frames, or time."""
    headers = {}
    if last_event_id is not None:
        if use_query_param:
            query += ("&" if query else "") + f"lastEventId={last_event_id}"
        else:
            headers["Last-Event-ID"] = last_event_id
    got: list[Frame] = []
    async with httpx.AsyncClient(timeout=None) as client:
        with pytest.raises(TimeoutError) if until is None and count is None else _nothing():
            async with asyncio.timeout(seconds):
                target = f"{url}?{query}" if query else url
                async with client.stream("GET", target, headers=headers) as response:
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith("text/event-stream")
                    async for frame in read_frames(response):
                        if frame.comment is not None:
                            continue
                        got.append(frame)
                        if until is not None and frame.id is not None and _seq(frame.id) >= until:
                            break
                        if count is not None and len(got) >= count:
                            break
    return got


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def _seq(event_id: str) -> int:
    return int(event_id.split("-")[-1]) if "-" not in event_id else int(event_id.split("-")[0])


async def match_event_seqs(writers: Writers) -> list[int]:
    topics = await stored_topics(writers.nats_url, writers.events_stream)
    return [s for s, t in topics if t.startswith("domain.fixture:Fixture.")]


HAND_OVER = pytest.mark.parametrize(
    "hand_over", [True, False], ids=["connection-handed-over", "asgi"]
)
"""The gateway's server hands stream connections over; any other ASGI server does not."""


@HAND_OVER
async def test_resume_across_the_replay_and_live_switch_has_no_gap_and_no_duplicate(
    writers: Writers, hand_over: bool
) -> None:
    fixture = writers.fixture("world-cup", "Russia", "Saudi Arabia")
    for minute in range(1, 9):
        await asyncio.to_thread(writers.goal, fixture, minute)
    async with serve_streams(
        writers.nats_url,
        writers.events_stream,
        writers.forecasts_stream,
        SETTINGS,
        hand_over=hand_over,
    ) as (base, _hub):
        # history before the gateway started: read from JetStream, then its 5-event buffer
        for minute in range(9, 19):
            await asyncio.to_thread(writers.goal, fixture, minute)
        before_live = await match_event_seqs(writers)
        cursor = before_live[1]  # the client saw the fixture's first two events

        async def later_goals() -> None:
            await asyncio.sleep(0.3)
            for minute in range(19, 29):
                await asyncio.to_thread(writers.goal, fixture, minute)

        writing = asyncio.create_task(later_goals())
        expected_tail = 10  # goals still to come, each a match event
        frames = await collect(
            f"{base}/v1/streams/match-events",
            last_event_id=str(cursor),
            count=len(before_live) - 2 + expected_tail,
        )
        await writing
        every = await match_event_seqs(writers)
    ids = [int(f.id or 0) for f in frames]
    assert ids == [s for s in every if s > cursor]
    assert {f.event for f in frames} == {"goal-scored"}
    data = json.loads(frames[-1].data)
    assert data["competition"] == "world-cup"
    assert data["fixture"] == str(fixture)
    assert data["score"] == [28, 0]


async def test_the_query_parameter_resumes_like_the_header(writers: Writers) -> None:
    fixture = writers.fixture("world-cup", "Spain", "Portugal")
    for minute in range(1, 4):
        writers.goal(fixture, minute)
    seqs = await match_event_seqs(writers)
    async with serve_streams(
        writers.nats_url, writers.events_stream, writers.forecasts_stream, SETTINGS
    ) as (base, _):
        frames = await collect(
            f"{base}/v1/streams/match-events",
            last_event_id=str(seqs[0]),
            until=seqs[-1],
            use_query_param=True,
        )
    assert [int(f.id or 0) for f in frames] == seqs[1:]


async def test_a_new_client_asking_for_recent_events_gets_them_then_live_ones(
    writers: Writers,
) -> None:
    fixture = writers.fixture("world-cup", "Japan", "Ghana")
    async with serve_streams(
        writers.nats_url, writers.events_stream, writers.forecasts_stream, SETTINGS
    ) as (base, hub):
        for minute in range(1, 5):  # into the gateway's replay buffer
            await asyncio.to_thread(writers.goal, fixture, minute)
        buffered = await match_event_seqs(writers)
        await followed(hub, Log.EVENTS, buffered[-1])

        async def one_more_goal() -> None:
            await joined(hub)  # live, after the two recent ones
            await asyncio.to_thread(writers.goal, fixture, 5)

        writing = asyncio.create_task(one_more_goal())
        fresh = await collect(f"{base}/v1/streams/match-events", query="recent=2", count=3)
        await writing
        every = await match_event_seqs(writers)
        resumed = await collect(
            f"{base}/v1/streams/match-events",
            query="recent=2",
            last_event_id=str(buffered[0]),
            until=every[-1],
        )
    assert [int(f.id or 0) for f in fresh] == [*buffered[-2:], every[-1]]
    assert [int(f.id or 0) for f in resumed] == every[1:]  # the id wins over recent


@pytest.mark.parametrize(
    ("last_event_id", "reason"),
    [("not-an-id", "malformed"), ("99999999", "ahead-of-log"), ("1", "too-old")],
)
async def test_an_id_that_cannot_be_resumed_gets_a_reset_then_live_events(
    writers: Writers, last_event_id: str, reason: str
) -> None:
    fixture = writers.fixture("euro", "France", "Italy")
    for minute in range(1, 12):
        writers.goal(fixture, minute)
    narrow = HubSettings(heartbeat_seconds=30, buffer_events=5, replay_limit=10)
    async with serve_streams(
        writers.nats_url, writers.events_stream, writers.forecasts_stream, narrow
    ) as (base, hub):

        async def one_more_goal() -> None:
            await joined(hub)  # after the reset: the live flow's first event
            await asyncio.to_thread(writers.goal, fixture, 12)

        writing = asyncio.create_task(one_more_goal())
        frames = await collect(
            f"{base}/v1/streams/match-events?competition=euro",
            last_event_id=last_event_id,
            count=2,
        )
        await writing
        head_before = frames[0].id
        assert hub.metrics.resets[reason] == 1
    reset, live = frames
    assert reset.event == "reset"
    body = json.loads(reset.data)
    assert body["reason"] == reason
    assert body["reload"] == "/v1/fixtures?competition=euro"
    assert live.event == "goal-scored"
    assert head_before is not None
    assert int(live.id or 0) > int(head_before)


async def test_filters_select_by_fixture_competition_and_model(writers: Writers) -> None:
    a = writers.fixture("world-cup", "Brazil", "Serbia")
    b = writers.fixture("euro", "Wales", "Austria")
    async with serve_streams(
        writers.nats_url, writers.events_stream, writers.forecasts_stream, SETTINGS
    ) as (base, hub):

        async def write() -> None:
            await joined(hub, 4)  # the four streams below start at the head: then write
            for i in range(3):
                await asyncio.to_thread(writers.odds, a, f"1.{5 + i}")
                await asyncio.to_thread(writers.odds, b, f"2.0{i}")
                await asyncio.to_thread(writers.forecast, a, "m1", 0.5)
                await asyncio.to_thread(writers.forecast, b, "m2", 0.4)
            await asyncio.to_thread(writers.goal, b, 10)

        writing = asyncio.create_task(write())
        by_fixture, by_competition, by_model, everything = await asyncio.gather(
            collect(f"{base}/v1/streams/odds", query=f"fixture={a}", count=3),
            collect(f"{base}/v1/streams/all", query="competition=euro", count=7),
            collect(f"{base}/v1/streams/forecasts", query="model=m2&model=m3", count=3),
            collect(f"{base}/v1/streams/all", count=13),
        )
        await writing
    assert {json.loads(f.data)["fixture"] for f in by_fixture} == {str(a)}
    assert {f.event for f in by_fixture} == {"odds"}
    assert {json.loads(f.data)["competition"] for f in by_competition} == {"euro"}
    assert (
        sorted(f.event or "" for f in by_competition)
        == ["forecast"] * 3 + ["goal-scored"] + ["odds"] * 3
    )
    assert {json.loads(f.data)["model"] for f in by_model} == {"m2"}
    forecast = json.loads(by_model[0].data)
    assert set(forecast) >= {
        "fixture",
        "kickoff",
        "model",
        "probabilities",
        "market_probabilities",
        "edge",
        "trigger",
        "issued_at",
    }
    # /all ids are "<events_seq>-<forecasts_seq>", growing componentwise
    cursors = [tuple(map(int, (f.id or "").split("-"))) for f in everything]
    assert all(x <= y for p, q in itertools.pairwise(cursors) for x, y in zip(p, q, strict=True))
    assert len(set(cursors)) == len(cursors)


async def test_the_sport_filter_is_repeatable_and_selects_by_the_fixture_s_sport(
    writers: Writers,
) -> None:
    async with serve_streams(
        writers.nats_url, writers.events_stream, writers.forecasts_stream, SETTINGS
    ) as (base, hub):

        async def write() -> None:
            await joined(hub, 3)  # the three streams below start at the head: then write
            football = await asyncio.to_thread(writers.fixture, "euro", "Spain", "Italy")
            basketball = await asyncio.to_thread(
                writers.fixture, "nba", "Celtics", "Lakers", 0, Sport.BASKETBALL
            )
            await asyncio.to_thread(writers.forecast, football, "m1", 0.5)
            await asyncio.to_thread(writers.forecast, basketball, "m1", 0.4)

        writing = asyncio.create_task(write())
        basketball_only, both, football_forecasts = await asyncio.gather(
            collect(f"{base}/v1/streams/all", query="sport=basketball", count=3),
            collect(f"{base}/v1/streams/all", query="sport=basketball&sport=football", count=6),
            collect(f"{base}/v1/streams/forecasts", query="sport=football", count=1),
        )
        await writing
    # The football fixture's events come first: had the basketball stream taken one, it would be
    # among its first three frames.
    assert {json.loads(f.data)["sport"] for f in basketball_only} == {"basketball"}
    assert sorted(f.event or "" for f in basketball_only) == ["forecast", "scheduled", "started"]
    assert (
        sorted(json.loads(f.data)["sport"] for f in both) == ["basketball"] * 3 + ["football"] * 3
    )
    assert [json.loads(f.data)["sport"] for f in football_forecasts] == ["football"]


async def test_heartbeat_comments_keep_an_idle_stream_alive(writers: Writers) -> None:
    writers.fixture("world-cup", "Egypt", "Uruguay")
    fast = HubSettings(heartbeat_seconds=0.2, buffer_events=5)
    async with serve_streams(
        writers.nats_url, writers.events_stream, writers.forecasts_stream, fast
    ) as (base, _):
        comments = []
        async with (
            httpx.AsyncClient(timeout=None) as client,
            client.stream("GET", f"{base}/v1/streams/forecasts") as response,
            asyncio.timeout(30),  # a deadline: three beats take 0.6 s
        ):
            async for frame in read_frames(response):
                comments.append(frame.comment)
                if len(comments) == 3:
                    break
    assert comments == ["heartbeat"] * 3


@HAND_OVER
async def test_connections_are_counted_and_shutdown_ends_streams_with_a_retry_hint(
    writers: Writers, hand_over: bool
) -> None:
    writers.fixture("world-cup", "Morocco", "Iran")
    async with serve_streams(
        writers.nats_url,
        writers.events_stream,
        writers.forecasts_stream,
        SETTINGS,
        hand_over=hand_over,
    ) as (base, hub):
        frames: list[Frame] = []

        async def listen() -> None:
            async with (
                httpx.AsyncClient(timeout=None) as client,
                client.stream("GET", f"{base}/v1/streams/odds") as response,
            ):
                async for frame in read_frames(response):
                    frames.append(frame)

        listening = [asyncio.create_task(listen()) for _ in range(3)]
        async with asyncio.timeout(30):
            while hub.metrics.open["odds"] < 3:  # noqa: ASYNC110 (polls the server's count)
                await asyncio.sleep(0.02)
        hub.shutdown()
        async with asyncio.timeout(30):
            await asyncio.gather(*listening)  # every response ended
        assert hub.metrics.open["odds"] == 0
        assert hub.metrics.ended["shutdown"] == 3
    assert len(frames) == 3
    for frame in frames:
        assert frame.event == "error"
        assert json.loads(frame.data)["code"] == "shutdown"
        assert frame.retry is not None
        assert 2000 <= frame.retry <= 4000
        assert frame.id is None  # the client's Last-Event-ID stays its last real event


@dataclass(frozen=True)
class OnlyCompetition:
    competition: str

    def covers(self, sport: str, competition: str) -> bool:
        return competition == self.competition


@dataclass(frozen=True)
class PlanAccess:
    async def entitlement(self, request: Request) -> OnlyCompetition | None:
        plan = request.headers.get("x-plan")
        return OnlyCompetition(plan) if plan else None


async def test_an_entitlement_keeps_foreign_events_out_of_all(writers: Writers) -> None:
    a = writers.fixture("world-cup", "Germany", "Mexico")
    b = writers.fixture("euro", "Iceland", "Hungary")
    async with serve_streams(
        writers.nats_url, writers.events_stream, writers.forecasts_stream, SETTINGS, PlanAccess()
    ) as (base, hub):

        async def write() -> None:
            await joined(hub)
            for i in range(5):
                await asyncio.to_thread(writers.odds, a, f"1.{5 + i}")
                await asyncio.to_thread(writers.forecast, b, "m1", 0.4)
                await asyncio.to_thread(writers.goal, a, i + 1)
                await asyncio.to_thread(writers.goal, b, i + 1)

        writing = asyncio.create_task(write())
        frames: list[Frame] = []
        async with httpx.AsyncClient(timeout=None) as client:
            headers = {"x-plan": "euro"}
            async with client.stream("GET", f"{base}/v1/streams/all", headers=headers) as r:
                async with asyncio.timeout(30):  # generous: a loaded box writes slowly
                    async for frame in read_frames(r):
                        if frame.comment is None:
                            frames.append(frame)
                        if len(frames) == 10:
                            break
        await writing
    assert {json.loads(f.data)["competition"] for f in frames} == {"euro"}
    assert sorted({f.event or "" for f in frames}) == ["forecast", "goal-scored"]


async def forecast_seqs(writers: Writers) -> list[int]:
    topics = await stored_topics(writers.nats_url, writers.forecasts_stream)
    return [s for s, t in topics if t.startswith("domain.forecast:")]


async def test_resume_under_churn_of_random_last_event_ids_loses_and_repeats_nothing(
    writers: Writers,
) -> None:
    fixtures = [writers.fixture("league", f"Home {i}", f"Away {i}") for i in range(4)]
    writers.forecast(fixtures[0])
    rng = random.Random(15)
    churn = HubSettings(heartbeat_seconds=30, buffer_events=20, replay_limit=1_000_000)
    async with serve_streams(
        writers.nats_url, writers.events_stream, writers.forecasts_stream, churn
    ) as (base, _):

        async def write() -> None:
            for minute in range(1, 61):
                await asyncio.to_thread(writers.goal, fixtures[minute % 4], minute)
                if minute % 3 == 0:
                    await asyncio.to_thread(writers.forecast, fixtures[minute % 4])

        writing = asyncio.create_task(write())
        sessions: list[tuple[str, str, list[Frame]]] = []
        limit = asyncio.Semaphore(20)

        async def reconnect() -> None:
            async with limit:
                await asyncio.sleep(rng.random() * 2)
                endpoint = rng.choice(["match-events", "all"])
                # Behind the last stored event: the session has at least one frame to get.
                e = rng.choice([0, *(await match_event_seqs(writers))[:-1]])
                f = rng.choice([0, *await forecast_seqs(writers)])
                cursor = str(e) if endpoint == "match-events" else f"{e}-{f}"
                frames = await read_for(f"{base}/v1/streams/{endpoint}", cursor, rng.random() / 2)
                sessions.append((endpoint, cursor, frames))

        await asyncio.gather(*(reconnect() for _ in range(200)))
        await writing
    events = await match_event_seqs(writers)
    forecasts = await forecast_seqs(writers)
    checked = 0
    for endpoint, cursor, frames in sessions:
        assert all(f.event != "reset" for f in frames)
        if not frames:
            continue
        checked += 1
        if endpoint == "match-events":
            got = [int(f.id or 0) for f in frames]
            assert got == [s for s in events if int(cursor) < s <= got[-1]]
            continue
        # an event's own log's part of an /all id is the event's position in that log
        e0, f0 = map(int, cursor.split("-"))
        ids = [tuple(map(int, (f.id or "").split("-"))) for f in frames]
        last_e, last_f = ids[-1]
        got_events = [i[0] for i, f in zip(ids, frames, strict=True) if f.event != "forecast"]
        got_forecasts = [i[1] for i, f in zip(ids, frames, strict=True) if f.event == "forecast"]
        assert got_events == [s for s in events if e0 < s <= last_e]
        assert got_forecasts == [s for s in forecasts if f0 < s <= last_f]
    assert checked == len(sessions) == 200


async def read_for(url: str, cursor: str, seconds: float) -> list[Frame]:
    """What a client resuming from ``cursor`` gets from its first frame on for about
    ``seconds``, then it drops. (There is an event after ``cursor``: its frame comes, on a
    loaded box too.)"""
    got: list[Frame] = []
    async with httpx.AsyncClient(timeout=None) as client:
        headers = {"Last-Event-ID": cursor}
        async with client.stream("GET", url, headers=headers) as response:
            frames = read_frames(response)
            async with asyncio.timeout(30):
                async for frame in frames:
                    if frame.comment is None:
                        got.append(frame)
                        break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    async for frame in frames:
                        if frame.comment is None:
                            got.append(frame)
    return got
