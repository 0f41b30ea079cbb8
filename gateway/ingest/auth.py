"""Feed providers authenticate like every other caller (gateway.access): a credential with scope
``feed:write`` bound to a provider. The provider decides who the source is; a provider never
names itself in the payload; the bookmakers it may relay prices for come with it
(``SPORTCAST_FEED_BOOKMAKERS``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.deps import FeedWriter
from gateway.ports import FeedProviderIdentity


async def feed_provider(request: Request, principal: FeedWriter) -> FeedProviderIdentity:
    assert principal.provider is not None  # the gate refuses feed:write without a provider
    relays: dict[str, list[str]] = request.app.state.feed_bookmakers
    return FeedProviderIdentity(principal.provider, frozenset(relays.get(principal.provider, ())))


FeedProvider = Annotated[FeedProviderIdentity, Depends(feed_provider)]
