"""One place that turns a presented credential into a Principal.

Order: an API key (``sc_<short>_<long>``), else a bootstrap feed token from the settings, else a
JWT. Verified keys are remembered for ``cache_seconds`` so a hot read path does not touch
PostgreSQL per request; a revocation is pushed by the key store (``forget``, milliseconds) and
the cache's short life bounds the delay should that push be lost: a revoked key is refused at
the latest ``cache_seconds`` after the revocation committed. A key in use is verified again in
the background during the last quarter of its life, so its requests never queue behind a lookup
(one per key and process at a time); a lookup that began before a revocation is not kept.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable, Mapping

from commands.api_keys import KeyStore, parse_key
from domain.access import Limits, Plan, Principal, Scope
from gateway.access.bearer_jwt import JwtVerifier
from gateway.access.refusals import RevokedKey, UnknownToken
from gateway.problems import ServiceUnavailable

_CACHE_MAX = 10_000


class Authenticator:
    def __init__(
        self,
        *,
        keys: KeyStore | None = None,
        jwt: JwtVerifier | None = None,
        feed_tokens: Mapping[str, str] | None = None,
        feed_token_limits: Limits | None = None,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._jwt = jwt
        self._feed_tokens = {t.encode(): p for t, p in (feed_tokens or {}).items()}
        self._feed_limits = feed_token_limits or Limits()
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._revocations = 0  # how many ``forget`` calls: a lookup across one is not kept
        self._refreshing: dict[str, asyncio.Task[None]] = {}

    def cached(self, token: str) -> Principal | None:
        """The caller behind ``token`` if verified less than ``cache_seconds`` ago and not
        revoked since (``forget``); None: ``authenticate`` must look."""
        cached = self._cache.get(token)
        if cached is None:
            return None
        principal, expires = cached
        left = expires - self._clock()
        if left <= 0:
            return None
        if left < self._cache_seconds / 4 and token not in self._refreshing:
            self._refreshing[token] = asyncio.get_running_loop().create_task(self._refresh(token))
        return principal

    async def _refresh(self, token: str) -> None:
        try:
            await self._verified(token)
        except Exception:  # noqa: S110 (the copy expires; the next request looks and answers)
            pass
        finally:
            self._refreshing.pop(token, None)

    async def _verified(self, token: str) -> Principal:
        """The key's principal looked up now, kept unless a revocation came in meanwhile."""
        revocations = self._revocations
        try:
            principal = await self._api_key(token)
        except (RevokedKey, UnknownToken):
            self._cache.pop(token, None)
            raise
        if revocations == self._revocations:
            self._remember(token, principal)
        return principal

    async def authenticate(self, token: str) -> Principal:
        cached = self.cached(token)
        if cached is not None:
            return cached
        presented = parse_key(token)
        if presented is not None:
            return await self._verified(token)
        provider = self._feed_token(token)
        if provider is not None:
            return Principal(
                subject=f"env:{provider}",
                scopes=frozenset({Scope.FEED_WRITE}),
                plan=Plan(),
                limits=self._feed_limits,
                provider=provider,
            )
        if self._jwt is not None:
            return await self._jwt.principal(token)
        raise UnknownToken("the token is neither a known API key nor a feed token")

    def forget(self, short: str) -> None:
        """Drop every cached principal of this key (called when it is revoked)."""
        subject = f"key:{short}"
        self._revocations += 1
        for token in [t for t, (p, _) in self._cache.items() if p.subject == subject]:
            del self._cache[token]

    async def _api_key(self, token: str) -> Principal:
        presented = parse_key(token)
        assert presented is not None
        try:
            record = await self._keys.find(presented.short) if self._keys is not None else None
        except (ConnectionError, OSError) as exc:
            raise ServiceUnavailable(
                f"API keys cannot be checked: {exc}", service="key-store"
            ) from exc
        if record is None or not record.matches(presented):
            raise UnknownToken("the API key is not known")
        if record.revoked_at is not None:
            raise RevokedKey(f"key {record.short} was revoked at {record.revoked_at.isoformat()}")
        return record.principal()

    def _feed_token(self, token: str) -> str | None:
        presented = token.encode()
        found = None
        for known, provider in self._feed_tokens.items():
            if hmac.compare_digest(known, presented):
                found = provider
        return found

    def _remember(self, token: str, principal: Principal) -> None:
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[token] = (principal, self._clock() + self._cache_seconds)
