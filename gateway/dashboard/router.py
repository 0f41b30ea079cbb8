"""The dashboard: its pages, and the JSON they read (named queries, fixture names, models).

Every answer is cut to the caller's entitlement: rows outside its plan are dropped, a fixture's
queries are refused for a fixture outside it, and model-wide aggregates (which mix
competitions) need a plan that covers everything.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from domain.access import Scope
from gateway.access.gate import AccessGate, presented_token
from gateway.access.streams import TOKEN_QUERY, PlanEntitlement
from gateway.dashboard.pages import page_by_slug, render
from gateway.problems import Problem, ServiceUnavailable
from gateway.streams.filters import Entitlement
from readmodels.analytics.engines import AnalyticsEngine, DashboardQueryError
from readmodels.analytics.queries import DASHBOARD_QUERIES, DashboardQuery, dashboard_query
from readmodels.dashboard_ports import FixtureDirectory, FixtureSummary, QuarantineCounts

STATIC = Path(__file__).parent / "static"
pages = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
api = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])

# A fixture's queries: allowed when the fixture is in the caller's plan.
_BY_FIXTURE = frozenset({"forecast_history", "odds_movement"})
# Queries whose rows each name a sport and a competition are filtered row by row; these mix
# competitions (or do not say which sport) and need a plan that covers everything.
_MIXED = frozenset(
    {
        "calibration",
        "market_calibration",
        "forecasts_per_hour",
        "mean_edge_by_model",
        "model_vs_market_by_day",
        "mean_overround_by_source",
        "price_range_by_fixture",
    }
)
# Rows that say nothing of any fixture (model ids and counts): shown to every reader.
_UNFILTERED = frozenset({"models"})
_INTEGER_PARAMS = frozenset({"since", "until"})


class UnknownQuery(Problem):
    status = 404
    code = "unknown-dashboard-query"
    title = "No dashboard query by that name"


class BadQueryParams(Problem):
    status = 422
    code = "dashboard-query-params"
    title = "The dashboard query's parameters are wrong"


class NotEntitled(Problem):
    status = 403
    code = "not-entitled"
    title = "Your plan does not cover this"


def mount(app: Any) -> None:
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")
    app.include_router(pages)
    app.include_router(api)


@pages.get("", response_class=RedirectResponse)
@pages.get("/", response_class=RedirectResponse)
async def dashboard_home(request: Request) -> RedirectResponse:
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/dashboard/index.html{query}")


@pages.get("/{slug}", response_class=HTMLResponse)
async def dashboard_page(slug: str) -> Response:
    page = page_by_slug(slug)
    if page is None:
        return HTMLResponse("<h1>Not found</h1>", status_code=404)
    return HTMLResponse(render(page))


async def _entitlement(request: Request) -> Entitlement | None:
    """The caller's plan (None: it covers everything), admitted as the streams admit: a key or
    JWT in the Authorization header, X-API-Key, or ``access_token`` for EventSource pages."""
    gate: AccessGate = request.app.state.access
    token = presented_token(request) or request.query_params.get(TOKEN_QUERY)
    principal = await gate.admit(token, Scope.FORECASTS_READ)
    plan = principal.plan
    return None if plan.everything else PlanEntitlement(plan)


def _engine(request: Request) -> AnalyticsEngine:
    engine: AnalyticsEngine | None = getattr(request.app.state, "dashboard_engine", None)
    if engine is None:
        raise ServiceUnavailable("the analytics engine is not running in this gateway")
    return engine


def _directory(request: Request) -> FixtureDirectory:
    directory: FixtureDirectory | None = getattr(request.app.state, "fixture_directory", None)
    if directory is None:
        raise ServiceUnavailable("the fixtures read model is not available in this gateway")
    return directory


async def _lookup(request: Request, ids: list[str]) -> list[FixtureSummary]:
    try:
        return await _directory(request).fixtures(ids)
    except ConnectionError as error:
        raise ServiceUnavailable(str(error)) from None


@api.get("/queries", summary="The named dashboard queries and their parameters")
async def list_queries() -> dict[str, Any]:
    return {
        "queries": [
            {"name": q.name, "title": q.title, "params": list(q.params)} for q in DASHBOARD_QUERIES
        ]
    }


@api.get("/queries/{name}", summary="Run one named dashboard query")
async def run_query(name: str, request: Request) -> dict[str, Any]:
    try:
        query = dashboard_query(name)
    except KeyError:
        raise UnknownQuery(f"no dashboard query {name!r}; GET /v1/dashboard/queries") from None
    params = _params(query, dict(request.query_params))
    entitlement = await _entitlement(request)
    if entitlement is not None:
        await _check_scope(request, query, params, entitlement)
    engine = _engine(request)
    try:
        rows = await asyncio.to_thread(engine.run, query, params)
    except DashboardQueryError as error:
        raise BadQueryParams(error.message) from None
    if entitlement is not None and name not in _BY_FIXTURE | _UNFILTERED:
        rows = [r for r in rows if entitlement.covers(str(r["sport"]), str(r["competition"]))]
    return {"query": name, "engine": engine.name, "rows": rows}


def _params(query: DashboardQuery, given: dict[str, str]) -> dict[str, Any]:
    given.pop(TOKEN_QUERY, None)
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key in _INTEGER_PARAMS:
            try:
                out[key] = int(value)
            except ValueError:
                raise BadQueryParams(f"{key} is milliseconds since 1970, got {value!r}") from None
        else:
            out[key] = value
    missing = sorted(set(query.params) - out.keys())
    unknown = sorted(out.keys() - set(query.params))
    if missing or unknown:
        raise BadQueryParams(
            f"{query.name} takes {', '.join(query.params)}; missing {missing}, unknown {unknown}"
        )
    return out


async def _check_scope(
    request: Request, query: DashboardQuery, params: dict[str, Any], entitlement: Entitlement
) -> None:
    if query.name in _MIXED:
        raise NotEntitled(f"{query.name} mixes competitions: it needs a plan that covers all")
    if query.name in _BY_FIXTURE:
        found = await _lookup(request, [str(params["fixture_id"])])
        if not found or not entitlement.covers(found[0].sport, found[0].competition):
            raise NotEntitled(f"fixture {params['fixture_id']} is not in your plan")


@api.get("/fixtures", summary="Names, kick-off and status of the fixtures asked for")
async def fixtures(
    request: Request, fixture_id: Annotated[list[str], Query(alias="id", max_length=200)]
) -> dict[str, Any]:
    entitlement = await _entitlement(request)
    found = await _lookup(request, fixture_id[:200])
    visible = [
        f for f in found if entitlement is None or entitlement.covers(f.sport, f.competition)
    ]
    return {"fixtures": [vars(f) for f in visible]}


@api.get("/quarantine", summary="Refused feed payloads kept, by reason")
async def quarantine(request: Request) -> dict[str, Any]:
    counts: QuarantineCounts | None = getattr(request.app.state, "quarantine_counts", None)
    if counts is None:
        raise ServiceUnavailable("the quarantine read model is not available in this gateway")
    try:
        reasons = await counts.counts()
    except ConnectionError as error:
        raise ServiceUnavailable(str(error)) from None
    return {
        "total": sum(r.count for r in reasons),
        "reasons": [vars(r) for r in sorted(reasons, key=lambda r: -r.count)],
    }
