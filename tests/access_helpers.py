"""Helpers for access-control tests: a real key store on a fresh PostgreSQL database, an app
built around it, and a real JWKS served over HTTP by a local issuer."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from commands.api_keys import KeyRecord
from domain.access import Limits, Plan, Scope
from infra.access.keystore import PostgresKeyStore, ensure_schema


@asynccontextmanager
async def key_store(postgres_url: str) -> AsyncIterator[PostgresKeyStore]:
    pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=4)
    assert pool is not None
    try:
        await ensure_schema(pool)
        yield PostgresKeyStore(pool)
    finally:
        await pool.close()


async def make_key(
    store: PostgresKeyStore,
    *scopes: Scope,
    plan: tuple[str, ...] = ("*",),
    rate: int = 600,
    connections: int = 10,
    provider: str | None = None,
) -> tuple[str, KeyRecord]:
    new, record = await store.create(
        name=f"test-{uuid.uuid4().hex[:6]}",
        scopes=set(scopes),
        plan=Plan.parse(plan),
        limits=Limits(requests_per_minute=rate, connections=connections),
        provider=provider,
    )
    return new.token, record


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Issuer:
    """A local OAuth2 issuer: RSA signing keys, a JWKS served over real HTTP, counted fetches."""

    url: str = "https://issuer.test"
    audience: str = "sportcast"
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    fetches: int = 0
    jwks_url: str = ""

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, private in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
            out.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})
        return {"keys": out}

    def token(self, kid: str, *, lifetime: float = 300, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": self.url,
            "aud": self.audience,
            "sub": "client-1",
            "iat": now,
            "exp": now + int(lifetime),
            **claims,
        }
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@contextmanager
def serving(issuer: Issuer) -> Iterator[Issuer]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            issuer.fetches += 1
            body = json.dumps(issuer.jwks()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    issuer.jwks_url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
