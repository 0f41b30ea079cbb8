"""The fan-out core without I/O: the filter index, slow clients, cursors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.streams.cursor import MalformedCursor, parse, render
from gateway.streams.endpoints import ENDPOINTS
from gateway.streams.filters import Filter
from gateway.streams.hub import Hub, HubSettings
from gateway.streams.subscriber import SLOW, Subscriber
from readmodels.live import Kind, Log, StreamEvent


class Silent:
    """A log nothing is appended to (the hub is fed through ``publish`` here)."""

    async def bounds(self) -> tuple[int, int]:
        return 1, 0

    async def follow(self, after: int) -> AsyncIterator[tuple[int, StreamEvent | None]]:
        return
        yield  # pragma: no cover

    async def read(self, *, after: int, up_to: int, limit: int) -> tuple[list[StreamEvent], int]:
        return [], up_to


def odds(seq: int, fixture: str, competition: str = "c1") -> StreamEvent:
    return StreamEvent(seq, Kind.ODDS, "odds", "football", competition, fixture, None, b"{}")


def forecast(seq: int, fixture: str, model: str) -> StreamEvent:
    return StreamEvent(seq, Kind.FORECAST, "forecast", "football", "c1", fixture, model, b"{}")


def subscriber(flt: Filter, endpoint: str = "odds", limit: int = 1 << 20) -> Subscriber:
    ep = ENDPOINTS[endpoint]
    return Subscriber(endpoint=ep.name, logs=ep.logs, flt=flt, entitlement=None, limit=limit)


def hub(**settings: float) -> Hub:
    return Hub({Log.EVENTS: Silent(), Log.FORECASTS: Silent()}, HubSettings(**settings))  # type: ignore[arg-type]


def ids(sub: Subscriber) -> list[str]:
    return [frame.split(b"\n", 1)[0].decode() for frame in sub.pending]


def test_an_event_reaches_only_the_subscribers_whose_filter_it_matches() -> None:
    h = hub()
    on_a = subscriber(Filter(fixtures=frozenset({"a"})))
    on_b = subscriber(Filter(fixtures=frozenset({"b"})))
    on_c2 = subscriber(Filter(competitions=frozenset({"c2"})))
    both = subscriber(Filter(fixtures=frozenset({"a", "b"}), competitions=frozenset({"c1"})))
    anything = subscriber(Filter())
    for sub in (on_a, on_b, on_c2, both, anything):
        h.join(sub, ENDPOINTS["odds"], None)
    h.publish(Log.EVENTS, 5, odds(5, "a"))
    h.publish(Log.EVENTS, 6, odds(6, "b", "c2"))
    assert ids(on_a) == ["id: 5"]
    assert ids(on_b) == ["id: 6"]
    assert ids(on_c2) == ["id: 6"]
    assert ids(both) == ["id: 5"]  # b is in c2, not c1
    assert ids(anything) == ["id: 5", "id: 6"]


def test_every_subscriber_shares_the_one_encoded_frame() -> None:
    h = hub()
    subs = [subscriber(Filter(fixtures=frozenset({"a"}))) for _ in range(3)]
    for sub in subs:
        h.join(sub, ENDPOINTS["odds"], None)
    h.publish(Log.EVENTS, 9, odds(9, "a"))
    assert subs[0].pending[0] is subs[1].pending[0] is subs[2].pending[0]


def test_a_model_filter_narrows_forecasts_and_lets_other_events_through() -> None:
    h = hub()
    sub = subscriber(Filter(models=frozenset({"m1", "m2"})), endpoint="all")
    h.join(sub, ENDPOINTS["all"], None)
    h.publish(Log.FORECASTS, 1, forecast(1, "a", "m3"))
    h.publish(Log.FORECASTS, 2, forecast(2, "a", "m2"))
    h.publish(Log.EVENTS, 3, odds(3, "a"))
    assert ids(sub) == ["id: 0-2", "id: 3-2"]


def test_a_client_too_slow_is_cut_with_a_reason_and_no_id() -> None:
    h = hub()
    sub = subscriber(Filter(), limit=400)
    h.join(sub, ENDPOINTS["odds"], None)
    for seq in range(1, 50):
        h.publish(Log.EVENTS, seq, odds(seq, "a"))
    assert sub.closing
    assert sub.reason == SLOW
    assert len(sub.pending) == 1
    assert sub.pending[0].startswith(b"event: error\ndata: ")
    assert b"slow-consumer" in sub.pending[0]


def test_a_buffered_resume_replays_after_the_cursor_then_goes_live() -> None:
    h = hub(buffer_events=3)
    for seq in range(1, 6):
        h.publish(Log.EVENTS, seq, odds(seq, "a"))
    assert h.buffer_from[Log.EVENTS] == 2  # 3, 4, 5 are kept
    sub = subscriber(Filter())
    h.join(sub, ENDPOINTS["odds"], {Log.EVENTS: 3})
    h.publish(Log.EVENTS, 6, odds(6, "a"))
    assert ids(sub) == ["id: 4", "id: 5", "id: 6"]


def test_a_client_ahead_of_this_hub_gets_nothing_twice() -> None:
    h = hub()
    h.publish(Log.EVENTS, 1, odds(1, "a"))
    sub = subscriber(Filter(), endpoint="all")
    h.join(sub, ENDPOINTS["all"], {Log.EVENTS: 2, Log.FORECASTS: 7})
    h.publish(Log.EVENTS, 2, odds(2, "a"))  # seen already (another gateway was further)
    h.publish(Log.EVENTS, 3, odds(3, "a"))
    assert ids(sub) == ["id: 3-7"]  # never below what the client had


def test_a_resume_under_a_one_key_filter_replays_only_what_the_filter_takes() -> None:
    h = hub()
    for seq in range(1, 7):
        h.publish(Log.EVENTS, seq, odds(seq, "a" if seq % 2 else "b"))
    sub = subscriber(Filter(fixtures=frozenset({"a"})))
    h.join(sub, ENDPOINTS["odds"], {Log.EVENTS: 1})
    assert ids(sub) == ["id: 3", "id: 5"]


def test_recent_starts_a_new_client_with_the_last_matching_events_then_live() -> None:
    h = hub()
    for seq in range(1, 7):
        h.publish(Log.EVENTS, seq, odds(seq, "a" if seq % 2 else "b"))
    sub = subscriber(Filter(fixtures=frozenset({"a"})))
    h.join(sub, ENDPOINTS["odds"], h.recent_position(sub, ENDPOINTS["odds"], 2))
    h.publish(Log.EVENTS, 7, odds(7, "a"))
    h.publish(Log.EVENTS, 8, odds(8, "b"))
    assert ids(sub) == ["id: 3", "id: 5", "id: 7"]


def test_recent_asks_for_more_than_the_buffer_holds_and_gets_all_of_it() -> None:
    h = hub(buffer_events=3)
    for seq in range(1, 7):
        h.publish(Log.EVENTS, seq, odds(seq, "a"))
    sub = subscriber(Filter())
    h.join(sub, ENDPOINTS["odds"], h.recent_position(sub, ENDPOINTS["odds"], 50))
    assert ids(sub) == ["id: 4", "id: 5", "id: 6"]


def test_recent_on_all_sends_the_frames_a_client_connected_all_along_got_last() -> None:
    h = hub()
    along = subscriber(Filter(), endpoint="all")
    h.join(along, ENDPOINTS["all"], None)
    seq = {Log.EVENTS: 0, Log.FORECASTS: 0}
    for i, lg in enumerate([Log.EVENTS, Log.FORECASTS, Log.FORECASTS, Log.EVENTS] * 3):
        seq[lg] += 1 + i % 2  # gaps: not every stream message is an event
        event = odds(seq[lg], "a") if lg is Log.EVENTS else forecast(seq[lg], "a", "m")
        h.publish(lg, seq[lg], event)
    late = subscriber(Filter(), endpoint="all")
    h.join(late, ENDPOINTS["all"], h.recent_position(late, ENDPOINTS["all"], 5))
    h.publish(Log.FORECASTS, 99, forecast(99, "a", "m"))
    assert ids(late) == ids(along)[-6:]
    assert late.pending == along.pending[-6:]


def test_cursors_parse_and_render_per_endpoint() -> None:
    assert parse("42", (Log.EVENTS,)) == {Log.EVENTS: 42}
    pos = parse("5-9", (Log.EVENTS, Log.FORECASTS))
    assert render(pos, (Log.EVENTS, Log.FORECASTS)) == "5-9"
    for bad, logs in (
        ("x", (Log.EVENTS,)),
        ("5", (Log.EVENTS, Log.FORECASTS)),
        ("-1", (Log.EVENTS,)),
    ):
        with pytest.raises(MalformedCursor):
            parse(bad, logs)


def test_each_connection_is_counted_in_the_metrics() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from gateway.streams.metrics import StreamMetrics

    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    h = Hub({Log.EVENTS: Silent(), Log.FORECASTS: Silent()}, HubSettings(), StreamMetrics(meter))
    subs = [subscriber(Filter()) for _ in range(3)]
    for sub in subs:
        h.join(sub, ENDPOINTS["odds"], None)
    h.leave(subs[0])

    def value(name: str) -> int:
        data = reader.get_metrics_data()
        assert data is not None
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        points = metric.data.data_points
                        return sum(int(getattr(p, "value", 0)) for p in points)
        raise AssertionError(name)

    assert value("sportcast.sse.connections") == 2
    assert value("sportcast.sse.disconnects") == 1


def test_the_asyncapi_document_is_served_and_names_every_stream_route() -> None:
    import yaml
    from fastapi.testclient import TestClient

    from gateway.app import create_app

    app = create_app(version_probes=[])
    routes = {path for path in app.openapi()["paths"] if path.startswith("/v1/streams/")}
    response = TestClient(app).get("/asyncapi.yaml")
    assert response.status_code == 200
    doc = yaml.safe_load(response.content)
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert routes == {a for a in addresses if a.startswith("/v1/streams/")}
    assert len(routes) == 4


def test_the_asyncapi_document_has_no_duplicate_keys_or_paragraphs() -> None:
    """YAML forbids a key twice in one mapping (AsyncAPI's parser refuses such a document;
    PyYAML silently keeps the last), and a paragraph said twice is an edit gone wrong."""
    import yaml

    from gateway.streams.asyncapi import document

    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader: Strict, node: yaml.MappingNode) -> dict[object, object]:
        keys = [loader.construct_object(k) for k, _ in node.value]
        twice = sorted({str(k) for k in keys if keys.count(k) > 1})
        assert not twice, f"keys given twice at line {node.start_mark.line + 1}: {twice}"
        return loader.construct_mapping(node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    doc = yaml.load(document(), Loader=Strict)  # a SafeLoader with one check more
    paragraphs = [p.strip() for p in doc["info"]["description"].split("\n\n") if p.strip()]
    assert len(paragraphs) == len(set(paragraphs))


def test_a_stream_before_the_hub_runs_is_a_problem_not_a_hang() -> None:
    from fastapi.testclient import TestClient

    from gateway.app import create_app

    response = TestClient(create_app(version_probes=[])).get("/v1/streams/forecasts")
    assert response.status_code == 503
    assert response.json()["code"] == "service-unavailable"


def test_recent_outside_its_range_is_a_validation_problem() -> None:
    from fastapi.testclient import TestClient

    from gateway.app import create_app

    client = TestClient(create_app(version_probes=[]))
    for bad in ("-1", "1001", "many"):
        response = client.get(f"/v1/streams/forecasts?recent={bad}")
        assert response.status_code == 422
        assert response.json()["code"] == "validation-error"


class Unreachable(Silent):
    async def bounds(self) -> tuple[int, int]:
        raise TimeoutError("nats: timeout")


def test_a_resume_the_store_cannot_answer_ends_with_a_retry_hint_not_a_crash() -> None:
    from fastapi.testclient import TestClient

    from gateway.app import create_app

    app = create_app(version_probes=[])
    app.state.stream_hub = Hub(
        {Log.EVENTS: Unreachable(), Log.FORECASTS: Unreachable()},
        HubSettings(retry_ms=1000),
    )
    response = TestClient(app).get("/v1/streams/odds", headers={"Last-Event-ID": "5"})
    assert response.status_code == 200
    assert response.text.startswith("retry: ")
    assert 1000 <= int(response.text.split("\n")[0].removeprefix("retry: ")) <= 2000
    assert "event: error" in response.text
    assert '"code":"upstream-unavailable"' in response.text
    assert "id:" not in response.text
