"""One place that turns a presented credential into a Principal.

Order: an API key (``sc_<short>_<long>``), else a bootstrap feed token from the settings, else a
JWT. Verified keys are remembered for ``cache_seconds`` so a hot read path does not touch
PostgreSQL per request; a revocation is pushed by the key store (``forget``, milliseconds) and
the cache's short life bounds the delay should that push be lost: a revoked key is refused at
the latest ``cache_seconds`` after the revocation committed. A key in use is verified again in
the background during the last quarter of its life, so its requests never queue behind a lookup
(one per key and process at a time); a lookup that began before a revocation is not kept.

Verified JWTs are remembered the same way, for ``cache_seconds`` but never past their ``exp``
(without the verifier's leeway: a token in its leeway is verified on each request, as before),
and verified again in the background while in use: a token whose issuer key was rotated out of
the JWKS is refused once the verifier's key copy is refreshed, and then at most
``cache_seconds`` later here (docs/adr/0029).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable, Mapping

from commands.api_keys import KeyStore, could_be_feed_token, parse_key, presented_feed_token
from domain.access import Limits, Plan, Principal, Scope
from gateway.access.bearer_jwt import JwtVerifier
from gateway.access.refusals import InvalidToken, RevokedKey, UnknownToken
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
        wall: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` measures the cache's life; ``wall`` reads a JWT's ``exp`` against."""
        if keys is not None and feed_tokens:
            raise ValueError(
                "with a key store, feed tokens live in it (PostgresKeyStore.adopt_feed_tokens)"
            )
        self._keys = keys
        self._jwt = jwt
        self._feed_tokens = {t.encode(): p for t, p in (feed_tokens or {}).items()}
        """Bootstrap feed tokens held in memory: only where no key store is configured."""
        self._feed_limits = feed_token_limits or Limits()
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._wall = wall
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
        """The API key's or JWT's principal verified now, kept unless a revocation came in
        meanwhile (a JWT: at most until its ``exp``)."""
        revocations = self._revocations
        expires = self._clock() + self._cache_seconds
        try:
            if parse_key(token) is not None or self._stored_feed_token(token):
                principal = await self._api_key(token)
            else:
                assert self._jwt is not None
                verified = await self._jwt.verified(token)
                principal = verified.principal
                expires = min(expires, self._clock() + verified.expires_at - self._wall())
        except (RevokedKey, UnknownToken, InvalidToken):
            self._cache.pop(token, None)
            raise
        if revocations == self._revocations:
            self._remember(token, principal, expires)
        return principal

    async def authenticate(self, token: str) -> Principal:
        cached = self.cached(token)
        if cached is not None:
            return cached
        if parse_key(token) is not None or self._stored_feed_token(token):
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
            return await self._verified(token)
        raise UnknownToken("the token is neither a known API key nor a feed token")

    def forget(self, short: str) -> None:
        """Drop every cached principal of this key (called when it is revoked)."""
        subject = f"key:{short}"
        self._revocations += 1
        for token in [t for t, (p, _) in self._cache.items() if p.subject == subject]:
            del self._cache[token]

    def forget_all(self) -> None:
        """Drop every cached principal: revocations may have been missed (their notices'
        connection was lost), so each caller is looked up again."""
        self._revocations += 1
        self._cache.clear()

    def _stored_feed_token(self, token: str) -> bool:
        """A bootstrap feed token is looked up in the key store, where the gateway adopted it
        (docs/adr/0012): found, matched and revoked as a key is."""
        return self._keys is not None and could_be_feed_token(token)

    async def _api_key(self, token: str) -> Principal:
        presented = parse_key(token) or presented_feed_token(token)
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

    def _remember(self, token: str, principal: Principal, expires: float) -> None:
        if expires <= self._clock():
            self._cache.pop(token, None)
            return
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[token] = (principal, expires)
