"""OAuth2 bearer JWTs verified against a real JWKS served over HTTP by a local issuer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import jwt
import pytest

from domain.access import Limits
from gateway.access.authenticator import Authenticator
from gateway.access.bearer_jwt import IssuerKeys, JwtVerifier
from gateway.access.gate import AccessGate
from gateway.access.refusals import InvalidToken
from gateway.app import create_app
from tests.access_helpers import Issuer, bearer, client, serving


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    local = Issuer()
    local.add_key("k1")
    with serving(local) as served:
        yield served


def app_for(issuer: Issuer, *, cooldown: float = 30.0) -> tuple[object, IssuerKeys]:
    keys = IssuerKeys(issuer.jwks_url, cooldown=cooldown)
    verifier = JwtVerifier({issuer.url: keys}, audience="sportcast", limits=Limits(100, 2))
    return create_app(version_probes=[], access=AccessGate(Authenticator(jwt=verifier))), keys


async def test_a_valid_token_carries_its_scopes_plan_and_provider(issuer: Issuer) -> None:
    app, _ = app_for(issuer)
    token = issuer.token(
        "k1",
        scope="openid forecasts:read audit:read",
        sportcast_plan=["football/E0", "basketball"],
        sportcast_provider="acme",
    )
    async with client(app) as http:  # type: ignore[arg-type]
        response = await http.get("/v1/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["subject"] == f"jwt:{issuer.url}#client-1"
    assert body["scopes"] == ["audit:read", "forecasts:read"]  # "openid" is not ours
    assert body["plan"] == ["basketball", "football/E0"]
    assert body["provider"] == "acme"
    assert body["requests_per_minute"] == 100


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"lifetime": -120}, "invalid-token"),  # expired beyond the leeway
        ({"aud": "someone-else"}, "invalid-token"),
        ({"iss": "https://evil.test"}, "unknown-token"),
    ],
)
async def test_expired_foreign_or_misaddressed_tokens_are_401(
    issuer: Issuer, claims: dict[str, object], code: str
) -> None:
    app, _ = app_for(issuer)
    token = issuer.token("k1", scope="forecasts:read", **claims)
    async with client(app) as http:  # type: ignore[arg-type]
        response = await http.get("/v1/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["code"] == code


async def test_hmac_signed_with_the_public_key_is_refused(issuer: Issuer) -> None:
    app, _ = app_for(issuer)
    forged = jwt.encode(
        {"iss": issuer.url, "aud": "sportcast", "sub": "x", "exp": 9999999999, "scope": "admin"},
        "a shared secret of more than thirty-two bytes",
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    async with client(app) as http:  # type: ignore[arg-type]
        response = await http.get("/v1/me", headers=bearer(forged))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid-token"


async def test_a_token_signed_by_another_key_with_a_known_kid_is_refused(issuer: Issuer) -> None:
    app, _ = app_for(issuer)
    impostor = Issuer(url=issuer.url)
    impostor.add_key("k1")  # same kid, different private key
    async with client(app) as http:  # type: ignore[arg-type]
        response = await http.get("/v1/me", headers=bearer(impostor.token("k1", scope="admin")))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid-token"


async def test_unknown_kids_refetch_at_most_once_per_cooldown_and_rotation_works(
    issuer: Issuer,
) -> None:
    app, keys = app_for(issuer, cooldown=30.0)
    async with client(app) as http:  # type: ignore[arg-type]
        ok = await http.get("/v1/me", headers=bearer(issuer.token("k1", scope="admin")))
        assert ok.status_code == 200
        assert issuer.fetches == 1
        issuer.add_key("k2")  # rotation: the issuer publishes a new key
        for _ in range(20):  # forged or rotated kids inside the cooldown: no new fetch
            refused = await http.get("/v1/me", headers=bearer(issuer.token("k2", scope="admin")))
        assert refused.json()["code"] == "invalid-token"
        assert issuer.fetches == 1
        keys._fetched_at -= 31  # the cooldown has passed
        rotated = await http.get("/v1/me", headers=bearer(issuer.token("k2", scope="admin")))
    assert rotated.status_code == 200
    assert issuer.fetches == 2


async def test_an_unreachable_jwks_refuses_tokens_without_blocking(issuer: Issuer) -> None:
    keys = IssuerKeys("http://127.0.0.1:9/jwks.json", cooldown=30.0)
    verifier = JwtVerifier({issuer.url: keys}, audience="sportcast", limits=Limits())
    app = create_app(version_probes=[], access=AccessGate(Authenticator(jwt=verifier)))
    async with client(app) as http:
        response = await http.get("/v1/me", headers=bearer(issuer.token("k1", scope="admin")))
    assert response.status_code == 401
    assert keys.fetches == 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cached_jwts(issuer: Issuer, clock: Clock, wall: float) -> tuple[Authenticator, IssuerKeys]:
    keys = IssuerKeys(issuer.jwks_url, cooldown=30.0)
    verifier = JwtVerifier({issuer.url: keys}, audience="sportcast", limits=Limits(100, 2))
    return Authenticator(jwt=verifier, cache_seconds=60, clock=clock, wall=lambda: wall), keys


async def test_a_verified_token_is_kept_but_never_past_its_expiry(issuer: Issuer) -> None:
    """Kept, a JWT caller is answered without verifying again (the latest-forecast fast path
    looks only in this cache), but never after the token's ``exp``, although the cache would
    keep it 60 s and the verifier accepts it 30 s longer (its leeway)."""
    clock, wall = Clock(), time.time()
    authenticator, _ = cached_jwts(issuer, clock, wall)
    token = issuer.token("k1", scope="forecasts:read", lifetime=3)  # exp: in 2 to 3 s
    assert authenticator.cached(token) is None
    principal = await authenticator.authenticate(token)
    clock.now += 1.9
    assert authenticator.cached(token) == principal
    clock.now += 1.2  # past exp
    assert authenticator.cached(token) is None
    expired = issuer.token("k1", scope="forecasts:read", lifetime=-1)  # inside the leeway
    assert await authenticator.authenticate(expired) is not None
    assert authenticator.cached(expired) is None  # verified on each request, never kept


async def test_a_kept_token_whose_key_was_rotated_out_is_refused(issuer: Issuer) -> None:
    """The issuer drops key k1 from its JWKS: once the verifier's copy of the keys is due, the
    background check of a kept token in use finds k1 gone and forgets the token."""
    clock, wall = Clock(), time.time()
    authenticator, keys = cached_jwts(issuer, clock, wall)
    token = issuer.token("k1", scope="forecasts:read")
    await authenticator.authenticate(token)
    issuer.add_key("k2")
    del issuer.keys["k1"]  # rotated out
    keys._fetched_at -= 301  # the key copy's life (300 s) has passed
    clock.now += 50  # the last quarter of the token's cache life: checked again meanwhile
    assert authenticator.cached(token) is not None
    async with asyncio.timeout(20):
        await asyncio.gather(*authenticator._refreshing.values())
    assert authenticator.cached(token) is None
    with pytest.raises(InvalidToken):
        await authenticator.authenticate(token)
