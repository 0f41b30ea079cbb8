"""Refused payloads are kept byte for byte, once, with their reason; nothing can delete them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace

import nats
import pytest
from nats.aio.client import Client
from nats.js.errors import APIError
from typer.testing import CliRunner

from commands.intake import RefusedPayload
from infra.cli import app
from infra.feeds.quarantine import Quarantine


@pytest.fixture
async def quarantine(nats_url: str, unique_name: str) -> AsyncIterator[Quarantine]:
    nc: Client = await nats.connect(nats_url)
    q = Quarantine(nc.jetstream(), stream=unique_name, prefix=unique_name.lower())
    await q.ensure_stream()
    yield q
    await nc.close()


def refused(raw: bytes, source: str) -> RefusedPayload:
    return RefusedPayload(raw=raw, source=source, kind="k", reason_code="c", reason="r")


async def test_held_payload_keeps_raw_bytes_and_reason(quarantine: Quarantine) -> None:
    raw = b'{"home": "0.5", "draw": "3.1"}\xff not even utf-8'
    seq = await quarantine.hold(
        RefusedPayload(
            raw=raw,
            source="acme-odds",
            kind="odds",
            reason_code="impossible-book",
            reason="implied probabilities sum to 0.93 < 1",
            origin="football/x.csv:17",
        )
    )
    held = await quarantine.show(seq)
    assert held.raw == raw
    assert held.reason_code == "impossible-book"
    assert held.origin == "football/x.csv:17"
    assert held.resolution is None


async def test_the_same_payload_is_held_once_however_often_it_is_sent(
    quarantine: Quarantine,
) -> None:
    refused = RefusedPayload(
        raw=b"bad", source="feed-a", kind="odds", reason_code="invalid-price", reason="x"
    )
    first = await quarantine.hold(refused)
    again = await quarantine.hold(refused)
    other = await quarantine.hold(replace(refused, raw=b"also bad"))
    assert again == first
    assert other != first
    assert [h.seq for h in await quarantine.list()] == [first, other]


async def test_list_filters_by_source_and_shows_retry_outcomes(quarantine: Quarantine) -> None:
    a = await quarantine.hold(refused(b"1", "a"))
    b = await quarantine.hold(refused(b"2", "b"))
    await quarantine.resolve(a, "accepted at position 42")
    only_a = await quarantine.list(source="a")
    assert [h.seq for h in only_a] == [a]
    assert only_a[0].resolution == "accepted at position 42"
    assert (await quarantine.show(b)).resolution is None


async def test_the_count_is_every_held_payload_not_the_page_listed(quarantine: Quarantine) -> None:
    for i in range(5):
        await quarantine.hold(refused(f"a{i}".encode(), "a"))
    await quarantine.hold(refused(b"b", "b"))
    seq = await quarantine.hold(refused(b"c", "c"))
    await quarantine.resolve(seq, "accepted at position 7")  # an outcome is not a payload

    assert len(await quarantine.list(limit=2)) == 2
    assert await quarantine.count() == 7
    assert await quarantine.count(source="a") == 5
    assert await quarantine.count(source="nobody") == 0


async def test_quarantine_cannot_be_purged_or_pruned(quarantine: Quarantine) -> None:
    seq = await quarantine.hold(refused(b"keep me", "a"))
    with pytest.raises(APIError):
        await quarantine.js.purge_stream(quarantine.stream)
    with pytest.raises(APIError):
        await quarantine.js.delete_msg(quarantine.stream, seq)
    assert (await quarantine.show(seq)).raw == b"keep me"


async def test_showing_an_unknown_entry_is_a_clear_error(quarantine: Quarantine) -> None:
    seq = await quarantine.hold(refused(b"x", "a"))
    await quarantine.resolve(seq, "accepted")
    with pytest.raises(LookupError, match="does not exist"):
        await quarantine.show(seq + 1)  # the resolution record, not a held payload


def test_the_cli_lists_a_page_and_reports_the_true_total(
    nats_url: str, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sportcast feed quarantine list`: --limit bounds the rows shown, never the total."""
    source = f"src-{unique_name.lower()}"

    async def hold_three() -> list[int]:
        nc: Client = await nats.connect(nats_url)
        try:
            held = Quarantine(nc.jetstream())  # the stack's own quarantine, as the intake's
            await held.ensure_stream()
            return [await held.hold(refused(f"{source}-{i}".encode(), source)) for i in range(3)]
        finally:
            await nc.close()

    seqs = asyncio.run(hold_three())
    monkeypatch.setenv("SPORTCAST_NATS_URL", nats_url)
    runner = CliRunner()
    page = runner.invoke(app, ["feed", "quarantine", "list", "--source", source, "--limit", "1",
                               "--json"])  # fmt: skip
    assert page.exit_code == 0, page.output
    listed = json.loads(page.stdout)
    assert (listed["total"], listed["shown"]) == (3, 1)
    assert [h["seq"] for h in listed["held"]] == seqs[:1]
    table = runner.invoke(app, ["feed", "quarantine", "list", "--source", source, "--limit", "2"])
    assert table.exit_code == 0, table.output
    assert "3 held (2 shown; --limit for more)" in table.stdout
    every = runner.invoke(app, ["feed", "quarantine", "list", "--source", source])
    assert "3 held\n" in every.stdout
