"""RFC 9457 problem details: one error base class, one set of handlers.

Every error a client can cause carries a stable ``code``; clients branch on it, never on text.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.metrics import record_problem

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://sportcast.dev/problems/"


class Problem(Exception):
    """Base for errors shown to HTTP clients. Subclasses set status, code and title."""

    status: int = 500
    code: str = "internal-error"
    title: str = "Internal error"

    def __init__(
        self, detail: str, *, headers: dict[str, str] | None = None, **extensions: Any
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})  # e.g. WWW-Authenticate, Retry-After
        self.extensions = extensions


class ServiceUnavailable(Problem):
    status = 503
    code = "service-unavailable"
    title = "A backing service is unavailable"


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    record_problem(status=status, code=code, path=instance, detail=detail)
    body = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        **extensions,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        instance=request.url.path,
        headers=exc.headers or None,
        **exc.extensions,
    )


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"location": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
        for e in exc.errors()
    ]
    return problem_response(
        status=422,
        code="validation-error",
        title="The request failed validation",
        detail="; ".join(f"{'.'.join(map(str, e['location']))}: {e['message']}" for e in errors),
        instance=request.url.path,
        errors=errors,
    )


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    return problem_response(
        status=exc.status_code,
        code=code,
        title=str(exc.detail),
        detail=f"{request.method} {request.url.path}: {exc.detail}",
        instance=request.url.path,
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the traceback; the client gets a problem, never a bare text 500.
    return problem_response(
        status=500,
        code="internal-error",
        title="Internal error",
        detail=f"{request.method} {request.url.path} failed unexpectedly",
        instance=request.url.path,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(Exception, _on_unexpected)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
