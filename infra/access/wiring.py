"""The access gate built from settings: API keys, bootstrap feed tokens, JWT issuers, budgets."""

from __future__ import annotations

from gateway.access.api_keys import KeyStore
from gateway.access.authenticator import Authenticator
from gateway.access.bearer_jwt import IssuerKeys, JwtVerifier
from gateway.access.gate import AccessGate
from gateway.access.principal import Limits
from gateway.access.throttle import RequestRate
from infra.settings import Settings


def default_limits(settings: Settings) -> Limits:
    return Limits(
        requests_per_minute=settings.default_requests_per_minute,
        connections=settings.default_connections,
    )


def jwt_verifier(settings: Settings) -> JwtVerifier | None:
    if not settings.oauth_issuers:
        return None
    issuers = {
        issuer: IssuerKeys(
            url,
            lifespan=settings.oauth_jwks_lifespan_seconds,
            cooldown=settings.oauth_jwks_cooldown_seconds,
        )
        for issuer, url in settings.oauth_issuers.items()
    }
    return JwtVerifier(issuers, audience=settings.oauth_audience, limits=default_limits(settings))


def access_gate(settings: Settings, keys: KeyStore) -> AccessGate:
    authenticator = Authenticator(
        keys=keys,
        jwt=jwt_verifier(settings),
        feed_tokens=settings.feed_tokens,
        feed_token_limits=default_limits(settings),
        cache_seconds=settings.api_key_cache_seconds,
    )
    return AccessGate(authenticator, rate=RequestRate(settings.rate_limit_storage))
