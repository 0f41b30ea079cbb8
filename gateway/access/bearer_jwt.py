"""OAuth2 bearer JWTs, verified with PyJWT against each configured issuer's JWKS.

PyJWKClient fetches with blocking urllib, so the fetch runs in a thread, never on the event loop.
Keys are cached for ``lifespan`` seconds; a token naming an unknown ``kid`` may force a refetch
(key rotation), but at most once per ``cooldown`` so that forged kids cannot hammer the issuer.
Only asymmetric algorithms are accepted: an HMAC token signed with a public key is refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from domain.access import Limits, Plan, PlanError, Principal, Scope
from gateway.access.refusals import InvalidToken, UnknownToken

log = logging.getLogger("sportcast.access")

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
PLAN_CLAIM = "sportcast_plan"
PROVIDER_CLAIM = "sportcast_provider"


class IssuerKeys:
    """One issuer's signing keys by ``kid``, fetched off the event loop and cached."""

    def __init__(
        self,
        jwks_url: str,
        *,
        lifespan: float = 300.0,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = jwt.PyJWKClient(jwks_url, cache_jwk_set=False, timeout=5)
        self._lifespan = lifespan
        self._cooldown = cooldown
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key(self, kid: str) -> jwt.PyJWK | None:
        age = self._clock() - self._fetched_at
        known = self._keys.get(kid)
        if known is not None and age < self._lifespan:
            return known
        if known is None and age < self._cooldown:
            return None  # an unknown kid right after a fetch: do not ask the issuer again yet
        async with self._lock:
            if self._clock() - self._fetched_at >= self._cooldown:
                await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        self._fetched_at = self._clock()  # also on failure: the cooldown protects the issuer
        self.fetches += 1
        try:
            data = await asyncio.to_thread(self._client.fetch_data)
            keys = jwt.PyJWKSet.from_dict(data).keys
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, OSError) as exc:
            log.warning(
                "JWKS fetch from %s failed; keeping %d cached keys: %s",
                self._client.uri,
                len(self._keys),
                exc,
            )
            return
        self._keys = {k.key_id: k for k in keys if k.key_id}


@dataclass(frozen=True)
class VerifiedToken:
    principal: Principal
    expires_at: float
    """The token's ``exp`` (seconds since the epoch): what it says may be kept until then."""


class JwtVerifier:
    """Turns a bearer JWT into a Principal, or refuses it (``unknown-token``, ``invalid-token``)."""

    def __init__(
        self,
        issuers: Mapping[str, IssuerKeys],
        *,
        audience: str,
        limits: Limits,
        leeway: float = 30,
    ) -> None:
        self._issuers = dict(issuers)
        self._audience = audience
        self._limits = limits
        self._leeway = leeway

    async def principal(self, token: str) -> Principal:
        return (await self.verified(token)).principal

    async def verified(self, token: str) -> VerifiedToken:
        """The token's principal and its expiry, or the refusal."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise UnknownToken(f"neither an API key nor a JWT: {exc}") from exc
        issuer = unverified.get("iss")
        keys = self._issuers.get(issuer) if isinstance(issuer, str) else None
        if keys is None or not isinstance(issuer, str):
            raise UnknownToken(f"tokens from issuer {issuer!r} are not accepted")
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise InvalidToken(f"algorithm {alg!r} is not accepted; use one of {ALGORITHMS}")
        if not isinstance(kid, str):
            raise InvalidToken("the token header names no key ('kid')")
        key = await keys.key(kid)
        if key is None:
            raise InvalidToken(f"issuer {issuer!r} has no key {kid!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self._audience,
                issuer=issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"the token was refused: {exc}") from exc
        return VerifiedToken(self._to_principal(issuer, claims), float(claims["exp"]))

    def _to_principal(self, issuer: str, claims: Mapping[str, Any]) -> Principal:
        raw = claims.get("scope", claims.get("scp", ""))
        names = raw.split() if isinstance(raw, str) else list(raw)
        known = {s.value for s in Scope}
        # Identity providers add scopes of their own (openid, profile): those are not ours.
        scopes = frozenset(Scope(n) for n in names if n in known)
        plan_claim = claims.get(PLAN_CLAIM, [])
        try:
            plan = Plan.parse([plan_claim] if isinstance(plan_claim, str) else plan_claim)
        except (PlanError, TypeError) as exc:
            raise InvalidToken(f"claim {PLAN_CLAIM!r}: {exc}") from exc
        provider = claims.get(PROVIDER_CLAIM)
        return Principal(
            subject=f"jwt:{issuer}#{claims['sub']}",
            scopes=scopes,
            plan=plan,
            limits=self._limits,
            provider=provider if isinstance(provider, str) and provider else None,
        )
