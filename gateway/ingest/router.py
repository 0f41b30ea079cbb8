"""POST endpoints for feed providers. Accepted: 202 with where the events are. Refused:
problem+json with the reason's code, and the payload kept in the quarantine with that reason.

Bodies are read raw and validated here (not by FastAPI) so that a payload that fails
validation can still be quarantined byte for byte.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from eventsourcing.domain import OriginatorVersionError
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter, ValidationError

from commands.intake import FeedIntake, RefusedPayload
from domain.errors import DomainError
from domain.provenance import Provenance
from gateway.ingest.auth import FeedProvider
from gateway.ingest.limits import UnsupportedMediaType, is_json, read_limited
from gateway.ingest.openapi import FEED_RESPONSES, request_body
from gateway.ingest.refusals import (
    AggregateDamaged,
    BookmakerNotAllowed,
    IngestFailed,
    InvalidPayload,
    MissingIdempotencyKey,
    Refused,
    StoreUnavailable,
)
from gateway.ingest.schemas import PAYLOADS, to_command
from gateway.ingest.tracing import traced_ingest
from gateway.ports import FeedProviderIdentity, StoreStatus
from gateway.problems import Problem

log = logging.getLogger("sportcast.ingest")
router = APIRouter(prefix="/feeds", tags=["ingest"], responses=FEED_RESPONSES)


class AcceptedPublic(BaseModel):
    status: Literal["accepted", "duplicate"]
    idempotency_key: str
    aggregate_id: UUID
    from_version: int
    to_version: int
    notification_ids: list[int]


def _intake(request: Request) -> FeedIntake:
    intake: FeedIntake = request.app.state.feed_intake
    return intake


IntakeDep = Annotated[FeedIntake, Depends(_intake)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]

_FIXTURE = PAYLOADS["fixture"]
_MATCH_EVENT = PAYLOADS["match-event"]
_ODDS = PAYLOADS["odds"]


@traced_ingest
async def _ingest(
    *,
    request: Request,
    provider: FeedProviderIdentity,
    intake: FeedIntake,
    header_key: str | None,
    adapter: TypeAdapter[Any],
    kind: str,
) -> JSONResponse:
    raw = await read_limited(request)
    status: StoreStatus | None = request.app.state.store_status
    if status is not None and not status.reachable():
        raise StoreUnavailable("the event store is unreachable; nothing was written")
    received_at = datetime.now(UTC)

    async def refuse(code: str, reason: str) -> int:
        return await intake.quarantine(
            RefusedPayload(
                raw=raw, source=provider.name, kind=kind, reason_code=code, reason=reason
            )
        )

    try:
        return await _accept(
            raw=raw,
            received_at=received_at,
            content_type=request.headers.get("content-type"),
            provider=provider,
            intake=intake,
            header_key=header_key,
            adapter=adapter,
            refuse=refuse,
        )
    except Problem:
        raise
    except Exception as exc:
        if status is not None and (status.is_outage(exc) or not status.reachable()):
            raise StoreUnavailable("the event store did not answer; retry") from exc
        damaged = isinstance(exc, OriginatorVersionError)
        problem = AggregateDamaged if damaged else IngestFailed
        log.exception("%s on %s ingest from %s", problem.code, kind, provider.name)
        try:
            seq = await refuse(problem.code, f"{type(exc).__name__}: {exc}"[:2000])
        except Exception:
            log.exception("could not quarantine a payload from %s", provider.name)
            raise StoreUnavailable("the payload could not be kept; retry") from exc
        raise problem(
            "the payload was kept in the quarantine; retry it once the fault is fixed",
            quarantine_seq=seq,
        ) from exc


async def _accept(
    *,
    raw: bytes,
    received_at: datetime,
    content_type: str | None,
    provider: FeedProviderIdentity,
    intake: FeedIntake,
    header_key: str | None,
    adapter: TypeAdapter[Any],
    refuse: Callable[[str, str], Awaitable[int]],
) -> JSONResponse:
    if not is_json(content_type):
        reason = f"send the payload as application/json, not {content_type or 'no content type'}"
        seq = await refuse(UnsupportedMediaType.code, reason)
        raise UnsupportedMediaType(reason, quarantine_seq=seq)
    try:
        payload = adapter.validate_json(raw)
    except ValidationError as exc:
        errors = [
            {"location": list(e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        detail = "; ".join(f"{'.'.join(map(str, e['location']))}: {e['message']}" for e in errors)
        seq = await refuse("validation-error", detail)
        raise InvalidPayload(detail, errors=errors, quarantine_seq=seq) from exc
    bookmaker = getattr(payload, "bookmaker", None)
    if bookmaker is not None and not provider.may_quote_for(bookmaker):
        reason = f"provider {provider.name!r} may not quote for bookmaker {bookmaker!r}"
        seq = await refuse(BookmakerNotAllowed.code, reason)
        raise BookmakerNotAllowed(reason, quarantine_seq=seq)
    event_id = payload.event_id
    key = header_key or event_id
    if not key:
        reason = "send an Idempotency-Key header or an event_id in the payload"
        seq = await refuse("idempotency-key-required", reason)
        raise MissingIdempotencyKey(reason, quarantine_seq=seq)
    key = f"{provider.name}:{key}"
    try:
        provenance = Provenance(
            source=provider.name,
            received_at=received_at,
            source_event_id=event_id,
            payload_ref=await intake.keep_raw(raw),
        )
        command = to_command(payload, key=key, provenance=provenance, source=provider.name)
        accepted = await intake.submit(command)
    except DomainError as exc:
        seq = await refuse(exc.code, str(exc))
        raise Refused(exc, quarantine_seq=seq) from exc
    body = AcceptedPublic(
        status="duplicate" if accepted.duplicate else "accepted",
        idempotency_key=key,
        aggregate_id=accepted.aggregate_id,
        from_version=accepted.from_version,
        to_version=accepted.to_version,
        notification_ids=list(accepted.notification_ids),
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=202)


@router.post(
    "/fixtures",
    status_code=202,
    response_model=AcceptedPublic,
    openapi_extra=request_body("FixtureIn"),
)
async def post_fixture(
    request: Request, provider: FeedProvider, intake: IntakeDep, key: IdempotencyKey = None
) -> JSONResponse:
    """A fixture message: ``scheduled``, ``rescheduled``, ``postponed`` or ``abandoned``."""
    return await _ingest(
        request=request,
        provider=provider,
        intake=intake,
        header_key=key,
        adapter=_FIXTURE,
        kind="fixture",
    )


@router.post(
    "/match-events",
    status_code=202,
    response_model=AcceptedPublic,
    openapi_extra=request_body("MatchEventIn"),
)
async def post_match_event(
    request: Request, provider: FeedProvider, intake: IntakeDep, key: IdempotencyKey = None
) -> JSONResponse:
    """An in-match message: ``started``, ``goal``, ``card``, ``period-ended``, ``finished``,
    ``result-corrected``."""
    return await _ingest(
        request=request,
        provider=provider,
        intake=intake,
        header_key=key,
        adapter=_MATCH_EVENT,
        kind="match-event",
    )


@router.post(
    "/odds", status_code=202, response_model=AcceptedPublic, openapi_extra=request_body("OddsIn")
)
async def post_odds(
    request: Request, provider: FeedProvider, intake: IntakeDep, key: IdempotencyKey = None
) -> JSONResponse:
    """A quote for one market of one fixture, prices exactly as the source sent them."""
    return await _ingest(
        request=request,
        provider=provider,
        intake=intake,
        header_key=key,
        adapter=_ODDS,
        kind="odds",
    )
