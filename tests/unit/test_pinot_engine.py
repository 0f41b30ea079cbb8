"""The Pinot side of the dashboard query interface, without Pinot: ``PinotEngine`` talks to a
real HTTP server on loopback that answers with broker responses recorded from Pinot's docs
(tests/unit/pinot_responses/), so pinotdb's request and parsing paths run for real."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from readmodels.analytics.engines import DashboardQueryError, PinotEngine
from readmodels.analytics.queries import DashboardQuery, dashboard_query

RESPONSES = Path(__file__).parent / "pinot_responses"


class Broker(ThreadingHTTPServer):
    """Answers every POST /query/sql with ``self.answer``, and keeps what it was asked."""

    answer: bytes = b"{}"
    status: int = 200
    asked: list[dict[str, Any]]


class Handler(BaseHTTPRequestHandler):
    server: Broker

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.asked.append({"path": self.path, "body": json.loads(body)})
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.answer)))
        self.end_headers()
        self.wfile.write(self.server.answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def broker() -> Iterator[Broker]:
    server = Broker(("127.0.0.1", 0), Handler)
    server.asked = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def engine_for(broker: Broker) -> PinotEngine:
    return PinotEngine(f"http://127.0.0.1:{broker.server_address[1]}")


def recorded(name: str) -> bytes:
    return (RESPONSES / f"{name}.json").read_bytes()


SELECT = DashboardQuery("t", "t", "SELECT moo, bar, foo FROM myTable LIMIT 10", ())


def test_a_selection_comes_back_as_rows_keyed_by_column_with_pinot_types(broker: Broker) -> None:
    broker.answer = recorded("selection")
    rows = engine_for(broker).run(SELECT, {})
    assert rows[0] == {"moo": 40015, "bar": 2019, "foo": "xyz"}
    assert len(rows) == 6
    assert all(isinstance(r["moo"], int) and isinstance(r["foo"], str) for r in rows)


def test_an_aggregation_gives_floats_for_double_columns_even_when_sent_as_integers(
    broker: Broker,
) -> None:
    broker.answer = recorded("aggregation")
    query = DashboardQuery("t", "t", "SELECT SUM(moo), MAX(bar), COUNT(*) FROM myTable", ())
    [row] = engine_for(broker).run(query, {})
    assert row == {"sum(moo)": 62335.0, "max(bar)": 2019.0, "count(*)": 6}
    assert isinstance(row["sum(moo)"], float)
    assert isinstance(row["count(*)"], int)


def test_a_group_by_keeps_the_broker_row_order(broker: Broker) -> None:
    broker.answer = recorded("group_by")
    query = DashboardQuery("t", "t", "SELECT foo, SUM(moo), MAX(bar) FROM myTable", ())
    rows = engine_for(broker).run(query, {})
    assert [r["foo"] for r in rows] == ["abc", "pqr", "xyz"]
    assert rows[1]["sum(moo)"] == 21760.0


def test_the_dashboard_sql_reaches_the_broker_with_its_parameters_inlined_and_quoted(
    broker: Broker,
) -> None:
    broker.answer = recorded("selection")
    query = dashboard_query("odds_movement")
    engine_for(broker).run(query, {"fixture_id": "o'neil-fx", "since": 1_700_000_000_000})
    [asked] = broker.asked
    assert asked["path"] == "/query/sql"
    sql = asked["body"]["sql"]
    assert "fixture_id = 'o''neil-fx'" in sql  # a quote in a value is escaped, not injected
    assert "quoted_at >= 1700000000000" in sql
    assert "%(" not in sql


def test_broker_exceptions_and_http_errors_are_dashboard_query_errors(broker: Broker) -> None:
    # Shape of a broker error: the exceptions list of the response format (not recorded).
    broker.answer = json.dumps(
        {"exceptions": [{"errorCode": 150, "message": "SQLParsingError"}], "resultTable": None}
    ).encode()
    with pytest.raises(DashboardQueryError) as error:
        engine_for(broker).run(SELECT, {})
    assert error.value.code == "dashboard-query-failed"
    broker.status = 500
    with pytest.raises(DashboardQueryError):
        engine_for(broker).run(SELECT, {})


def test_wrong_parameters_are_refused_before_any_request(broker: Broker) -> None:
    with pytest.raises(DashboardQueryError, match="missing \\['since'\\]") as error:
        engine_for(broker).run(dashboard_query("odds_movement"), {"fixture_id": "x"})
    assert error.value.code == "dashboard-query-params"
    assert broker.asked == []


def test_a_broker_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        PinotEngine("kafka:9092")
