"""The refusals of access control, each a problem+json with a stable code."""

from __future__ import annotations

from typing import Any

from gateway.problems import Problem


class _Unauthorised(Problem):
    """A 401: says how to authenticate (RFC 6750 ``WWW-Authenticate``)."""

    status = 401
    challenge = 'Bearer realm="sportcast"'

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": self.challenge}, **extensions)


class NotAuthenticated(_Unauthorised):
    code = "not-authenticated"
    title = "Credentials are required"


class UnknownToken(_Unauthorised):
    """Not an API key we hold, not a feed token, not a JWT from an accepted issuer."""

    challenge = 'Bearer realm="sportcast", error="invalid_token"'
    code = "unknown-token"
    title = "The token is not known"


class InvalidToken(_Unauthorised):
    """A JWT from an accepted issuer that fails verification (signature, expiry, audience)."""

    challenge = 'Bearer realm="sportcast", error="invalid_token"'
    code = "invalid-token"
    title = "The token is not valid"


class RevokedKey(_Unauthorised):
    challenge = 'Bearer realm="sportcast", error="invalid_token"'
    code = "key-revoked"
    title = "The API key has been revoked"


class InsufficientScope(Problem):
    status = 403
    code = "insufficient-scope"
    title = "The credentials lack the scope this needs"


class NotEntitled(Problem):
    status = 403
    code = "not-entitled"
    title = "The plan does not cover this"


class NoProvider(Problem):
    status = 403
    code = "no-feed-provider"
    title = "The credentials are not bound to a feed provider"


class RateLimited(Problem):
    status = 429
    code = "rate-limited"
    title = "Too many requests"


class TooManyConnections(Problem):
    status = 429
    code = "too-many-connections"
    title = "Too many open connections"
