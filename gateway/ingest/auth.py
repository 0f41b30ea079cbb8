"""Feed providers authenticate with a bearer token; the token decides who the source is.

Tokens are compared in constant time. The registry (token -> provider name) is handed to the
app by the composition root; a provider never names itself in the payload.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.problems import Problem


class NotAuthenticated(Problem):
    status = 401
    code = "not-authenticated"
    title = "A feed provider token is required"


class UnknownToken(Problem):
    status = 401
    code = "unknown-token"
    title = "The token does not belong to any feed provider"


_bearer = HTTPBearer(auto_error=False)


def feed_provider(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None:
        raise NotAuthenticated("send 'Authorization: Bearer <feed token>'")
    registry: dict[str, str] = request.app.state.feed_tokens
    presented = credentials.credentials.encode()
    for token, provider in registry.items():
        if hmac.compare_digest(token.encode(), presented):
            return provider
    raise UnknownToken("the bearer token is not registered for any feed provider")


FeedProvider = Annotated[str, Depends(feed_provider)]
