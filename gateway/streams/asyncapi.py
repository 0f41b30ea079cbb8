"""``GET /asyncapi.yaml``: the AsyncAPI 3 document of the SSE channels and the NATS subjects."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(tags=["streams"])


@cache
def document() -> bytes:
    return resources.files("gateway.streams").joinpath("asyncapi.yaml").read_bytes()


@router.get("/asyncapi.yaml", summary="AsyncAPI 3 document of the streams and NATS subjects")
async def asyncapi_yaml() -> Response:
    return Response(document(), media_type="application/yaml")
