"""A fixture's forecasts: the latest per model kind (ETag, 304), the full history with each
forecast's input, and the model against the market."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from domain.access import Scope
from gateway.access.gate import presented_token
from gateway.api.entitlement import FixtureNotFound, check_entitled, visible_fixture
from gateway.api.latest import LatestCache, LatestForecastsPublic, answer_headers, matches
from gateway.api.pagination import CursorParam, LimitParam, Page, encode_cursor, read_cursor
from gateway.api.public import IssuedForecastPublic, issued_forecast_public, outcomes_of
from gateway.api.read_after import DEFAULT_WAIT, MaxWaitParam, MinPositionParam, read_after
from gateway.deps import SECURITY_OPENAPI, Reader, ReadModelsDep, read_models

router = APIRouter(prefix="/v1/fixtures", tags=["forecasts"])


class OutcomeComparisonPublic(BaseModel):
    outcome: str
    model: float
    market: float
    """The market's margin-free probability the forecast was made against."""
    edge: float
    best_price: float | None
    """The highest decimal price quoted for this outcome now, and by whom."""
    best_source: str | None


class ComparisonPublic(BaseModel):
    model_kind: str
    model_id: str
    market: str
    issued_at: str
    trigger: str
    outcomes: list[OutcomeComparisonPublic]


class ComparisonsPublic(BaseModel):
    fixture_id: UUID
    comparisons: list[ComparisonPublic]


@router.get(
    "/{fixture_id}/forecasts/latest",
    response_model=LatestForecastsPublic,
    responses={304: {"description": "Not modified: the ETag in If-None-Match is current."}},
    openapi_extra={
        **SECURITY_OPENAPI,
        "parameters": [
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
            }
        ],
    },
)
async def latest_forecasts(
    fixture_id: UUID,
    request: Request,
    min_position: MinPositionParam = None,
    max_wait: MaxWaitParam = DEFAULT_WAIT,
) -> Response:
    """The latest forecast of each model kind; send the ETag back as If-None-Match for a 304.

    The API's hottest read: it calls the access gate itself rather than through dependencies
    (FastAPI's dependency resolution cost more than the rest of a cached answer; bench_rest),
    and a cached answer is served before routing by gateway.api.latest_fast. With
    ``min_position`` (read your writes) it waits, then reads PostgreSQL past any kept copy."""
    state = request.app.state
    principal = await state.access.admit(presented_token(request), Scope.FORECASTS_READ)
    cache: LatestCache = state.latest_cache
    found = None if min_position else cache.get(fixture_id)
    if found is None:
        reads = await read_models(request)
        if await read_after(request, min_position, max_wait):
            epoch = cache.epoch  # a copy of what is read now is kept only if still current
            latest = await reads.latest_forecasts_of(fixture_id)
            found = None if latest is None else cache.put(fixture_id, *latest, epoch=epoch)
        else:
            found = await cache.loaded(fixture_id, reads.latest_forecasts_of)
        if found is None:
            raise FixtureNotFound(f"no fixture {fixture_id}")
    check_entitled(principal, found.sport, found.competition)
    headers = answer_headers(found.etag)
    if matches(request.headers.get("if-none-match"), found.etag):
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type="application/json", headers=headers)


@router.head(
    "/{fixture_id}/forecasts/latest",
    responses={304: {"description": "Not modified: the ETag in If-None-Match is current."}},
    openapi_extra={**SECURITY_OPENAPI},
)
async def latest_forecasts_head(
    fixture_id: UUID,
    request: Request,
    min_position: MinPositionParam = None,
    max_wait: MaxWaitParam = DEFAULT_WAIT,
) -> Response:
    """The GET's status and headers (ETag included) without its body."""
    return await latest_forecasts(fixture_id, request, min_position, max_wait)


@router.get("/{fixture_id}/forecasts", response_model=Page[IssuedForecastPublic])
async def forecast_history(
    fixture_id: UUID,
    principal: Reader,
    reads: ReadModelsDep,
    model_kind: str | None = None,
    cursor: CursorParam = None,
    limit: LimitParam = 100,
) -> Page[IssuedForecastPublic]:
    """Every forecast of the fixture in the order issued, each with its inputs: the feature
    vector the model was given, its model and artifact, and its input position (the feed log
    up to ``as_of_position``, from which ``sportcast audit`` re-derives the features)."""
    await visible_fixture(reads, principal, fixture_id)
    after = read_cursor(cursor, "forecasts", int)
    rows = await reads.forecast_history(
        fixture_id, model_kind=model_kind, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[IssuedForecastPublic](
        items=[issued_forecast_public(r) for r in rows],
        next_cursor=encode_cursor("forecasts", rows[-1].position) if more else None,
    )


@router.get("/{fixture_id}/comparison", response_model=ComparisonsPublic)
async def comparison(
    fixture_id: UUID, principal: Reader, reads: ReadModelsDep
) -> ComparisonsPublic:
    """Each model's latest probabilities against the market's, the edge, and the best price now
    on offer for each outcome."""
    await visible_fixture(reads, principal, fixture_id)
    odds = await reads.latest_odds(fixture_id)
    best: dict[tuple[str, str], tuple[float, str]] = {}
    for quote in odds:
        prices = quote.decimal_prices or []
        for name, price in zip(outcomes_of(quote.market, len(prices)), prices, strict=True):
            if (quote.market, name) not in best or price > best[(quote.market, name)][0]:
                best[(quote.market, name)] = (price, quote.source)
    comparisons = []
    for f in await reads.latest_forecasts(fixture_id):
        outcomes = []
        for i, name in enumerate(f.outcomes):
            offer = best.get((f.market, name))
            outcomes.append(
                OutcomeComparisonPublic(
                    outcome=name,
                    model=f.probabilities[i],
                    market=f.market_probabilities[i],
                    edge=f.edge[i],
                    best_price=offer[0] if offer else None,
                    best_source=offer[1] if offer else None,
                )
            )
        comparisons.append(
            ComparisonPublic(
                model_kind=f.model_kind,
                model_id=f.model_id,
                market=f.market,
                issued_at=f.issued_at.isoformat(),
                trigger=f.trigger,
                outcomes=outcomes,
            )
        )
    return ComparisonsPublic(fixture_id=fixture_id, comparisons=comparisons)
