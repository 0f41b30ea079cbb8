"""``GET /metrics``: every instrument of the process in Prometheus's text format, and the
counters the gateway itself keeps (problems answered, by code)."""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter
from fastapi.responses import Response
from opentelemetry import metrics
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

router = APIRouter(tags=["operations"])
refusals = logging.getLogger("sportcast.refusals")
_meter = metrics.get_meter("sportcast.gateway")
_problems = _meter.create_counter(
    "sportcast.http.problems",
    description="Problem responses (RFC 9457) by code and status: every refusal and error",
)


@router.get("/metrics", summary="Prometheus metrics of this gateway process")
async def prometheus_metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def record_problem(*, status: int, code: str, path: str, detail: str) -> None:
    """Count a problem answered, and log it as one JSON line (the refused-input log)."""
    _problems.add(1, {"code": code, "status": str(status)})
    if status < 500:
        refusals.info(
            json.dumps(
                {
                    "event": "refused",
                    "status": status,
                    "code": code,
                    "path": path,
                    "detail": detail,
                },
                separators=(",", ":"),
            )
        )
    else:
        refusals.warning(
            json.dumps(
                {"event": "error", "status": status, "code": code, "path": path, "detail": detail},
                separators=(",", ":"),
            )
        )
