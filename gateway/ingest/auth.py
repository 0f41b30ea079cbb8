"""Feed providers authenticate like every other caller (gateway.access): a credential with scope
``feed:write`` bound to a provider. The provider decides who the source is; a provider never
names itself in the payload.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from gateway.deps import FeedWriter


async def feed_provider(principal: FeedWriter) -> str:
    assert principal.provider is not None  # the gate refuses feed:write without a provider
    return principal.provider


FeedProvider = Annotated[str, Depends(feed_provider)]
