"""API keys on a real PostgreSQL: authentication, scopes, revocation, rate limits, and feed
providers posting through the same gate."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime

import asyncpg
import pytest
from typer.testing import CliRunner

from commands.api_keys import FEED_TOKEN_PREFIX, KeyRecord
from domain.access import Limits, Scope
from domain.feed_health import FeedPulse
from gateway.access.authenticator import Authenticator
from gateway.access.gate import AccessGate
from gateway.access.refusals import RevokedKey
from gateway.access.throttle import RequestRate
from gateway.app import create_app
from infra.access.keystore import REVOKED_CHANNEL, PostgresKeyStore
from infra.cli import app as cli
from infra.connections import listening
from tests.access_helpers import bearer, client, key_store, make_key
from tests.unit.test_gateway_ingest import SCHEDULED, InMemoryIntake


def gate(store: PostgresKeyStore, *, cache_seconds: float = 5.0) -> AccessGate:
    return AccessGate(Authenticator(keys=store, cache_seconds=cache_seconds))


async def test_a_key_is_stored_as_short_id_and_sha256_of_its_secret(postgres_url: str) -> None:
    async with key_store(postgres_url) as store:
        token, record = await make_key(store, Scope.FORECASTS_READ)
    prefix, short, long = token.split("_")
    assert prefix == "sc"
    assert record.short == short
    conn = await asyncpg.connect(postgres_url)
    try:
        row = await conn.fetchrow("SELECT * FROM access.api_keys WHERE short_token = $1", short)
    finally:
        await conn.close()
    assert bytes(row["long_hash"]) == hashlib.sha256(long.encode()).digest()
    assert long not in str(dict(row))


async def test_key_in_bearer_or_x_api_key_header_is_the_caller(postgres_url: str) -> None:
    async with key_store(postgres_url) as store:
        token, record = await make_key(
            store, Scope.FORECASTS_READ, plan=("football/E0", "basketball")
        )
        async with client(create_app(version_probes=[], access=gate(store))) as http:
            by_bearer = await http.get("/v1/me", headers=bearer(token))
            by_header = await http.get("/v1/me", headers={"X-API-Key": token})
    assert by_bearer.status_code == 200, by_bearer.text
    assert by_bearer.json() == by_header.json()
    assert by_bearer.json()["subject"] == f"key:{record.short}"
    assert by_bearer.json()["scopes"] == ["forecasts:read"]
    assert by_bearer.json()["plan"] == ["basketball", "football/E0"]


async def test_missing_wrong_or_forged_keys_are_401_problems(postgres_url: str) -> None:
    async with key_store(postgres_url) as store:
        token, _ = await make_key(store, Scope.FORECASTS_READ)
        forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
        async with client(create_app(version_probes=[], access=gate(store))) as http:
            missing = await http.get("/v1/me")
            wrong = await http.get("/v1/me", headers=bearer(forged))
            garbage = await http.get("/v1/me", headers=bearer("sc_nope"))
    for response, code in (
        (missing, "not-authenticated"),
        (wrong, "unknown-token"),
        (garbage, "unknown-token"),
    ):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["code"] == code


async def test_a_revoked_key_is_refused_at_once_despite_the_cache(postgres_url: str) -> None:
    async with key_store(postgres_url) as store:
        token, record = await make_key(store, Scope.FORECASTS_READ)
        access = gate(store, cache_seconds=3600)
        async with (
            listening(postgres_url, REVOKED_CHANNEL, access.authenticator.forget),
            client(create_app(version_probes=[], access=access)) as http,
        ):
            assert (await http.get("/v1/me", headers=bearer(token))).status_code == 200
            await store.revoke(record.short)
            # The NOTIFY arrives within milliseconds (30 s: a deadline for a loaded box; the
            # copy would be kept for an hour).
            async with asyncio.timeout(30):
                while (response := await http.get("/v1/me", headers=bearer(token))).is_success:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
    assert response.status_code == 401
    assert response.json()["code"] == "key-revoked"


async def test_the_wrong_scope_is_403_and_admin_holds_every_scope(postgres_url: str) -> None:
    intake = InMemoryIntake()
    async with key_store(postgres_url) as store:
        reader, _ = await make_key(store, Scope.FORECASTS_READ)
        admin, _ = await make_key(store, Scope.ADMIN, provider="acme")
        unbound, _ = await make_key(store, Scope.FEED_WRITE)
        app = create_app(version_probes=[], feed_intake=intake, access=gate(store))
        async with client(app) as http:
            refused = await http.post("/feeds/fixtures", json=SCHEDULED, headers=bearer(reader))
            no_provider = await http.post(
                "/feeds/fixtures", json=SCHEDULED, headers=bearer(unbound)
            )
            by_admin = await http.post("/feeds/fixtures", json=SCHEDULED, headers=bearer(admin))
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient-scope"
    assert refused.json()["required_scope"] == "feed:write"
    assert no_provider.status_code == 403
    assert no_provider.json()["code"] == "no-feed-provider"
    assert by_admin.status_code == 202, by_admin.text


async def test_the_feed_health_board_of_every_competition_is_for_admins_only(
    postgres_url: str,
) -> None:
    """GET /feeds/health shows every source and competition, whatever a plan covers: nobody
    without a key sees it, and only an admin with one (a reader has /v1/feed-health)."""

    class Board:
        async def pulses(self, now: datetime) -> list[FeedPulse]:
            return [FeedPulse("book", "E0", now, 3.0)]

    async with key_store(postgres_url) as store:
        reader, _ = await make_key(store, Scope.FORECASTS_READ, plan=("football/E0",))
        admin, _ = await make_key(store, Scope.ADMIN)
        app = create_app(version_probes=[], feed_health=Board(), access=gate(store))
        async with client(app) as http:
            anonymous = await http.get("/feeds/health")
            by_reader = await http.get("/feeds/health", headers=bearer(reader))
            by_admin = await http.get("/feeds/health", headers=bearer(admin))
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.json()["code"] == "not-authenticated"
    assert by_reader.status_code == 403
    assert by_reader.json()["code"] == "insufficient-scope"
    assert by_admin.status_code == 200, by_admin.text
    assert [f["competition"] for f in by_admin.json()["feeds"]] == ["E0"]


async def test_a_feed_key_posts_as_its_provider_and_env_tokens_still_work(
    postgres_url: str,
) -> None:
    intake = InMemoryIntake()
    bad = {**SCHEDULED, "kickoff": "not a time"}
    async with key_store(postgres_url) as store:
        feed_key, _ = await make_key(store, Scope.FEED_WRITE, plan=(), provider="acme")
        await store.adopt_feed_tokens({"s3cret": "legacy"}, Limits())
        app = create_app(version_probes=[], feed_intake=intake, access=gate(store))
        async with client(app) as http:
            by_key = await http.post("/feeds/fixtures", json=bad, headers=bearer(feed_key))
            by_env = await http.post("/feeds/fixtures", json=bad, headers=bearer("s3cret"))
            reading = await http.get("/v1/me", headers=bearer("s3cret"))
    assert by_key.status_code == by_env.status_code == 422
    assert [h["source"] for h in intake.held] == ["acme", "legacy"]
    assert reading.json()["scopes"] == ["feed:write"]
    assert reading.json()["plan"] == []


async def test_env_feed_tokens_move_into_the_key_store_and_are_listed_and_revoked_there(
    postgres_url: str,
) -> None:
    """SPORTCAST_FEED_TOKENS are adopted as hashed feed:write keys bound to their provider: the
    table holds no token, `keys list` shows them, `keys revoke` ends them, and adopting again
    (the next gateway start) neither duplicates nor revives one."""
    tokens = {"tok-acme-1": "acme", "tok-beta-1": "beta"}
    limits = Limits(requests_per_minute=120, connections=2)
    intake = InMemoryIntake()
    bad = {**SCHEDULED, "kickoff": "not a time"}
    async with key_store(postgres_url) as store:
        adopted = await store.adopt_feed_tokens(tokens, limits)
        assert len(adopted) == 2
        assert all(s.startswith(FEED_TOKEN_PREFIX) for s in adopted)
        records = {r.provider: r for r in await store.list()}
        assert set(records) == {"acme", "beta"}
        for token, provider in tokens.items():
            record = records[provider]
            assert record.scopes == frozenset({Scope.FEED_WRITE})
            assert record.limits == limits
            assert record.long_hash == hashlib.sha256(token.encode()).digest()
            assert token not in record.short
        assert await store.adopt_feed_tokens(tokens, limits) == []  # once
        assert len(await store.list()) == 2

        env = {"SPORTCAST_POSTGRES_URL": postgres_url, "COLUMNS": "250"}
        listed = await asyncio.to_thread(
            CliRunner().invoke, cli, ["keys", "list", "--json"], env=env
        )
        assert listed.exit_code == 0, listed.output
        assert {k["provider"]: k["key"] for k in json.loads(listed.stdout)} == {
            p: records[p].short for p in ("acme", "beta")
        }

        app = create_app(version_probes=[], feed_intake=intake, access=gate(store))
        async with client(app) as http:
            posted = await http.post("/feeds/fixtures", json=bad, headers=bearer("tok-acme-1"))
            assert posted.status_code == 422  # admitted as acme: its payload is refused
            assert [h["source"] for h in intake.held] == ["acme"]
            unknown = await http.post("/feeds/fixtures", json=bad, headers=bearer("tok-other"))
            assert unknown.status_code == 401
            assert unknown.json()["code"] == "unknown-token"
        revoked = await asyncio.to_thread(
            CliRunner().invoke, cli, ["keys", "revoke", records["acme"].short], env=env
        )
        assert revoked.exit_code == 0, revoked.output
        assert await store.adopt_feed_tokens(tokens, limits) == []  # a restart revives nothing
        app = create_app(version_probes=[], feed_intake=intake, access=gate(store))
        async with client(app) as http:
            again = await http.post("/feeds/fixtures", json=bad, headers=bearer("tok-acme-1"))
            still = await http.post("/feeds/fixtures", json=bad, headers=bearer("tok-beta-1"))
    assert again.status_code == 401
    assert again.json()["code"] == "key-revoked"
    assert still.status_code == 422


async def test_feed_tokens_beside_a_key_store_are_refused_at_construction(
    postgres_url: str,
) -> None:
    async with key_store(postgres_url) as store:
        with pytest.raises(ValueError, match="adopt_feed_tokens"):
            Authenticator(keys=store, feed_tokens={"s3cret": "legacy"})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_key_in_use_is_verified_again_before_its_copy_expires(postgres_url: str) -> None:
    """Without the revocation notice (lost), the background check in the copy's last quarter
    finds the revocation: the key is refused within ``cache_seconds`` of it, and requests never
    waited for a lookup meanwhile."""
    clock = Clock()
    async with key_store(postgres_url) as store:
        token, record = await make_key(store, Scope.FORECASTS_READ)
        authenticator = Authenticator(keys=store, cache_seconds=4.0, clock=clock)
        principal = await authenticator.authenticate(token)
        await store.revoke(record.short)  # nobody listens: the notice is lost
        clock.now += 2.0
        assert authenticator.cached(token) == principal  # half its life: no check yet
        clock.now += 1.5
        assert authenticator.cached(token) == principal  # last quarter: checked meanwhile
        async with asyncio.timeout(30):  # the background check's query, on a loaded box too
            while authenticator.cached(token) is not None:  # noqa: ASYNC110 (bounded)
                await asyncio.sleep(0.05)
        with pytest.raises(RevokedKey):
            await authenticator.authenticate(token)


class HeldStore:
    """The real key store, with each lookup held until ``release`` (a lookup in flight);
    ``read`` is set once the key has been read."""

    def __init__(self, store: PostgresKeyStore) -> None:
        self.store = store
        self.read = asyncio.Event()
        self.release = asyncio.Event()

    async def find(self, short: str) -> KeyRecord | None:
        found = await self.store.find(short)
        self.read.set()
        await self.release.wait()
        return found


async def test_a_lookup_across_a_revocation_notice_is_not_kept(postgres_url: str) -> None:
    async with key_store(postgres_url) as store:
        token, record = await make_key(store, Scope.FORECASTS_READ)
        held = HeldStore(store)
        authenticator = Authenticator(keys=held, cache_seconds=60)
        lookup = asyncio.create_task(authenticator.authenticate(token))
        async with asyncio.timeout(30):
            await held.read.wait()  # it has read the key, not yet revoked
        await store.revoke(record.short)
        authenticator.forget(record.short)  # the notice arrives before the lookup ends
        held.release.set()
        await lookup  # that request was admitted: it came before the revocation
        assert authenticator.cached(token) is None
        with pytest.raises(RevokedKey):
            await authenticator.authenticate(token)


async def test_spending_the_rate_budget_gives_429_with_retry_after(postgres_url: str) -> None:
    async with key_store(postgres_url) as store:
        slow, _ = await make_key(store, Scope.FORECASTS_READ, rate=3)
        other, _ = await make_key(store, Scope.FORECASTS_READ, rate=3)
        app = create_app(
            version_probes=[],
            access=AccessGate(Authenticator(keys=store), rate=RequestRate("async+memory://")),
        )
        async with client(app) as http:
            codes = [(await http.get("/v1/me", headers=bearer(slow))).status_code for _ in range(3)]
            limited = await http.get("/v1/me", headers=bearer(slow))
            unaffected = await http.get("/v1/me", headers=bearer(other))
    assert codes == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate-limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert unaffected.status_code == 200


def test_cli_creates_lists_and_revokes_keys(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPORTCAST_POSTGRES_URL", postgres_url)
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()
    created = runner.invoke(
        cli,
        [
            "keys",
            "create",
            "--name",
            "acme feed",
            "--scope",
            "feed:write",
            "--provider",
            "acme",
            "--plan",
            "football",
            "--rate",
            "120",
        ],
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    short = token.split("_")[1]
    listed = runner.invoke(cli, ["keys", "list"])
    assert listed.exit_code == 0
    assert short in listed.stdout
    assert "acme feed" in listed.stdout

    async def find() -> tuple[bool, bool]:
        async with key_store(postgres_url) as store:
            record = await store.find(short)
            assert record is not None
            return record.revoked_at is not None, record.provider == "acme"

    assert asyncio.run(find()) == (False, True)
    revoked = runner.invoke(cli, ["keys", "revoke", token])
    assert revoked.exit_code == 0, revoked.output
    assert asyncio.run(find()) == (True, True)
    assert short not in runner.invoke(cli, ["keys", "list"]).stdout
    assert short in runner.invoke(cli, ["keys", "list", "--all"]).stdout
    as_json = runner.invoke(cli, ["keys", "list", "--all", "--json"])
    assert as_json.exit_code == 0, as_json.output
    (record,) = [r for r in json.loads(as_json.stdout) if r["key"] == short]
    assert (record["name"], record["scopes"], record["plan"]) == (
        "acme feed",
        ["feed:write"],
        ["football"],
    )
    assert (record["provider"], record["requests_per_minute"]) == ("acme", 120)
    assert record["revoked_at"] is not None
    live = json.loads(runner.invoke(cli, ["keys", "list", "--json"]).stdout)
    assert short not in [r["key"] for r in live]
    missing = runner.invoke(cli, ["keys", "revoke", "ffffffffffff"])
    assert missing.exit_code == 2
    assert "key-not-found" in missing.output
    bad = runner.invoke(cli, ["keys", "create", "--name", "x", "--scope", "feed:write"])
    assert bad.exit_code == 2
    assert "invalid-key-spec" in bad.output
