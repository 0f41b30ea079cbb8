"""``sportcast analytics``: the analytics projection (DuckDB embedded, Kafka for Pinot) and the
dashboard queries."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import duckdb
import httpx
import typer
from rich.markup import escape
from rich.table import Table

from infra.analytics.kafka_sink import AnalyticsSinkUnavailable
from infra.analytics.mirror import NAME as ANALYTICS
from infra.analytics.mirror import mirroring
from infra.analytics.rebuilding import RebuildNotDone, ask_holder
from infra.analytics.service import AnalyticsService, analytics_path, dashboard_engine
from infra.bootstrap import analytics_service
from infra.cli_console import console
from infra.cli_reach import StackUnreachable, check_nats, on_stack
from infra.eventstore.errors import EventStoreUnavailable
from infra.projections.report import stack_report
from infra.settings import Settings
from readmodels.analytics.engines import DashboardQueryError
from readmodels.analytics.queries import DASHBOARD_QUERIES, dashboard_query
from readmodels.analytics.store import AnalyticsStore
from readmodels.postgres.rebuild_requests import RebuildRequest

app = typer.Typer(help="Analytics tables for the dashboards and their named queries.")
out = console()
err = console(stderr=True)


def _fail(code: str, message: str) -> typer.Exit:
    err.print(f"[bold red]error[/] \\[{code}] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _in_use(path: Path | str, exc: duckdb.IOException) -> typer.Exit:
    """DuckDB lets one process hold a file: a running `sportcast up` (or `analytics run`)."""
    return _fail(
        "analytics-db-in-use",
        f"{path} is held by another process, a running `sportcast up` or `sportcast analytics"
        f" run` ({exc}). Its position and state: `sportcast projections status`; its queries:"
        " GET /v1/dashboard/queries/NAME on the gateway; stop it to use the file here",
    )


def _open(settings: Settings, path: Path | None = None) -> AnalyticsService:
    try:
        check_nats(settings)
    except StackUnreachable as exc:
        raise _fail(exc.code, str(exc)) from None
    try:
        return analytics_service(settings, settings.nats_client_url, path=path)
    except duckdb.IOException as exc:
        raise _in_use(path or analytics_path(settings), exc) from None
    except (EventStoreUnavailable, AnalyticsSinkUnavailable) as exc:
        raise _fail(getattr(exc, "code", "unavailable"), str(exc)) from None


@app.command()
def run(
    follow: Annotated[
        bool, typer.Option("--follow/--catch-up", help="Keep following, or stop once caught up.")
    ] = True,
) -> None:
    """Project the feed and the forecasts into the analytics tables (and Kafka, when
    SPORTCAST_KAFKA_BOOTSTRAP is set), resuming from the stored positions. While following,
    with SPORTCAST_POSTGRES_URL set, where it stands (and a failure) is copied to PostgreSQL
    every second for `sportcast projections status`, as `sportcast up` does."""
    settings = Settings()
    service = _open(settings)
    try:
        if not follow:
            applied = service.runner.catch_up()
            out.print(f"applied {applied} events; positions {service.store.positions()}")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        service.start()
        copied = (
            mirroring(service.runner, settings.postgres_url)
            if settings.postgres_url
            else contextlib.nullcontext()
        )
        try:
            with copied:
                while not stop.wait(1.0):
                    if service.runner.failure is not None:
                        if settings.postgres_url:
                            time.sleep(2.0)  # the copy (every second) takes the failure along
                        raise _fail("analytics-failed", str(service.status().error))
        except KeyboardInterrupt:
            pass
    finally:
        service.close()


def _held(path: Path) -> bool:
    """Whether another process holds the DuckDB file (a running stack)."""
    if not path.exists():
        return False
    try:
        duckdb.connect(str(path), read_only=True).close()
    except duckdb.IOException as exc:
        return "lock" in str(exc).lower()
    return False


def _copied_status(settings: Settings) -> None:
    """The standing the holder copies to PostgreSQL, as `sportcast projections status`."""
    try:
        report = on_stack(settings, lambda: stack_report(settings))
    except StackUnreachable as exc:
        raise _fail(exc.code, str(exc)) from None
    table = Table("stream", "position", "head", "lag (events)", "lag (s)", "state")
    for r in (r for r in report if r.projection == ANALYTICS):
        state = r.state if r.error is None else f"{r.state}: {r.error}"
        table.add_row(
            r.stream, str(r.position), str(r.head), str(r.lag_events), f"{r.lag_seconds:.1f}", state
        )
    out.print(table)
    out.print("(as the running stack that holds the file copies it to PostgreSQL)")


@app.command()
def status() -> None:
    """Each lane's position, the log's head, the lag in events, and the state; while a running
    stack holds the file, what it copies to PostgreSQL (as `sportcast projections status`)."""
    settings = Settings()
    if _held(analytics_path(settings)):
        _copied_status(settings)
        return
    service = _open(settings)
    try:
        s = service.status()
    finally:
        service.close()
    table = Table("lane", "position", "head", "lag (events)")
    for lane, head in s.heads.items():
        table.add_row(lane, str(s.positions.get(lane, 0)), str(head), str(s.lag_events[lane]))
    out.print(table)


@app.command()
def rebuild(
    within: Annotated[
        float, typer.Option(min=1.0, help="Seconds to follow a rebuild the stack makes.")
    ] = 3600.0,
    taken_within: Annotated[
        float, typer.Option(min=0.5, help="Seconds for the stack to take the request.")
    ] = 30.0,
) -> None:
    """Build the analytics tables from zero into fresh tables beside the live ones, then switch
    them in (one DuckDB transaction). While `sportcast up` (or `sportcast analytics run` with
    SPORTCAST_POSTGRES_URL) holds the file, that process rebuilds on request through
    PostgreSQL and its dashboards keep answering from the live tables until the switch;
    otherwise this command rebuilds in the file itself."""
    settings = Settings()
    target = analytics_path(settings)
    if _held(target):
        _ask_holder(settings, within, taken_within)
        return
    service = _open(settings)
    try:
        progress = service.runner.rebuild()
        if progress.state != "switched":
            raise _fail("analytics-rebuild-failed", f"{progress.error}; the live tables unchanged")
        after = service.runner.catch_up()
    finally:
        service.close()
    out.print(
        f"rebuilt {target}: {progress.events} events in {progress.seconds:.1f} s, switched in at"
        f" {progress.positions}; {after} events since"
    )


def _ask_holder(settings: Settings, within: float, taken_within: float) -> None:
    """The process that holds the file rebuilds it (infra/analytics/rebuilding.py)."""

    def shown(request: RebuildRequest) -> None:
        err.print(f"rebuild request {request.id}: {request.state}, {request.events} events")

    async def work() -> RebuildRequest:
        return await ask_holder(
            settings.postgres_client_url, ANALYTICS, within=within, progress=shown
        )

    try:
        done = on_stack(settings, work)
    except StackUnreachable as exc:
        raise _fail(exc.code, str(exc)) from None
    except RebuildNotDone as exc:
        raise _fail(exc.code, str(exc)) from None
    seconds = (done.updated_at - done.requested_at).total_seconds()
    out.print(
        f"rebuilt analytics in the running stack: {done.events} events in {seconds:.1f} s,"
        f" switched in at {done.positions}"
    )


def _from_gateway(settings: Settings, name: str, params: dict[str, str]) -> list[Any] | None:
    """The rows as the running gateway answers the query; None when no gateway answers with
    the dashboard key kept in the data directory. A refusal is the gateway's own error."""
    key_file = settings.demo_key_path
    if not key_file.exists():
        return None
    url = f"http://{settings.gateway_host}:{settings.gateway_port}/v1/dashboard/queries/{name}"
    headers = {"X-API-Key": key_file.read_text().strip()}
    try:
        response = httpx.get(url, params=params, headers=headers, timeout=30)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        problem = response.json() if "json" in response.headers.get("content-type", "") else {}
        code = str(problem.get("code") or f"http-{response.status_code}")
        raise _fail(code, str(problem.get("detail") or response.text))
    rows: list[Any] = response.json()["rows"]
    return rows


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@app.command()
def query(
    name: Annotated[str, typer.Argument(help="A dashboard query; `--list` shows them.")] = "",
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE, once per parameter.")
    ] = None,
    list_queries: Annotated[bool, typer.Option("--list", help="List the queries.")] = False,
) -> None:
    """Answer a named dashboard query (Pinot when SPORTCAST_PINOT_BROKER_URL is set, else the
    embedded DuckDB file) and print the rows as JSON lines. While `sportcast up` holds the
    file, the running gateway answers it (GET /v1/dashboard/queries/NAME with the dashboard's
    key from the data directory)."""
    if list_queries or not name:
        for q in DASHBOARD_QUERIES:
            out.print(f"{q.name}({', '.join(q.params)}): {q.title}", highlight=False)
        return
    settings = Settings()
    params = dict(p.split("=", 1) for p in param or [] if "=" in p)
    try:
        store = None if settings.pinot_broker_url else AnalyticsStore(analytics_path(settings))
    except duckdb.IOException as exc:
        answered = _from_gateway(settings, name, params)
        if answered is None:
            raise _in_use(analytics_path(settings), exc) from None
        for row in answered:
            print(json.dumps(row))
        return
    try:
        rows = dashboard_engine(settings, store).run(
            dashboard_query(name), {k: _value(v) for k, v in params.items()}
        )
    except KeyError as exc:
        raise _fail("unknown-dashboard-query", str(exc)) from exc
    except DashboardQueryError as exc:
        raise _fail(exc.code, exc.message) from exc
    finally:
        if store is not None:
            store.close()
    for row in rows:
        print(json.dumps(row))
