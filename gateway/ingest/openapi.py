"""The ingest API's OpenAPI: request bodies from the payload models, problem+json refusals.

The routes read their bodies raw (to quarantine them byte for byte), so FastAPI cannot infer
the bodies; they are declared here from the same pydantic models that validate them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, TypeAdapter

from gateway.ingest.schemas import FixtureIn, MatchEventIn, OddsIn
from gateway.problems import PROBLEM_JSON

_BODIES: dict[str, Any] = {"FixtureIn": FixtureIn, "MatchEventIn": MatchEventIn, "OddsIn": OddsIn}
_REF = "#/components/schemas/{model}"


class ProblemPublic(BaseModel):
    """RFC 9457 problem details; ``code`` is stable, branch on it."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str
    quarantine_seq: int | None = None


def _problem(description: str, **headers: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": _REF.format(model="ProblemPublic")}}},
    }
    if headers:
        answer["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return answer


FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem("No idempotency key (header or event_id); the payload is quarantined."),
    401: _problem("No feed token, or one that belongs to no provider."),
    403: _problem("The provider may not write this fixture or quote for this bookmaker."),
    413: _problem("The body is over the limit (declared or read); it is not kept."),
    415: _problem("The body is not JSON; it is quarantined."),
    422: _problem("Validation or a domain rule refused the payload; it is quarantined."),
    500: _problem("An unexpected fault; the payload is quarantined as internal-error."),
    503: _problem("The event store is unreachable; retry later.", **{"Retry-After": "seconds"}),
}


def request_body(model: str) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body is ``model`` (one of the ingest models)."""
    ref = {"$ref": _REF.format(model=model)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _schemas() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, model in [*_BODIES.items(), ("ProblemPublic", ProblemPublic)]:
        schema = TypeAdapter(model).json_schema(ref_template=_REF)
        found.update(schema.pop("$defs", {}))
        found[name] = schema
    return found


def install_feed_schemas(app: FastAPI) -> None:
    """Add the request-body and problem schemas to the app's generated OpenAPI document."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            spec.setdefault("components", {}).setdefault("schemas", {}).update(_schemas())
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
