"""The dashboard in a real headless Chromium (Debian's), driven by Playwright, against a real
`sportcast up`: live updates, a resume across a gateway restart with nothing missed or repeated,
charts with data, and a key whose plan excludes the demo league seeing none of it.

Screenshots are written to tests/artifacts/ (kept by CI as test artifacts)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from infra.audit.log import is_event, pages
from infra.connections import connect_nats
from infra.eventstore.security import NatsSecurity
from tests.running_stack import CHROMIUM, CHROMIUM_ARGS, Stack

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    ARTIFACTS.mkdir(exist_ok=True)
    # Outside pytest's basetemp, which embedded PostgreSQL's own user may not enter.
    with tempfile.TemporaryDirectory(prefix="sportcast-dashboard-") as tmp:
        Path(tmp).chmod(0o755)
        running = Stack(Path(tmp), ARTIFACTS / "dashboard-stack.log")
        running.start()
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def received(page: Any) -> list[str]:
    ids: list[str] = page.evaluate("window.sportcast.received")
    return ids


def wait_for(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def forecast_positions(stack: Stack, first: int, last: int) -> list[int]:
    """The positions of the forecasts the log holds in [first, last]: what /v1/streams/forecasts
    must have delivered, each once, in order."""

    async def read() -> list[int]:
        # The stack's admin NKey (anonymous clients are refused), and no reconnect loop: a
        # refused or lost connection fails this read instead of hanging the test run.
        nc = await connect_nats(
            stack.nats_url, reconnect=False, security=NatsSecurity(nkey_seed_file=stack.admin_seed)
        )
        try:
            out = []
            async for page in pages(
                nc, "SPORTCAST_FORECASTS", subject="es.SPORTCAST_FORECASTS.evt.>",
                start_seq=first, up_to_seq=last,
            ):  # fmt: skip
                out.extend(r.seq for r in page if is_event(r))
            return out
        finally:
            await nc.close()

    # Playwright's sync API runs an event loop in this thread: read from another one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(read(), 60)).result()


def test_live_board_updates_and_resumes_across_a_gateway_restart(
    stack: Stack, browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    page.goto(f"{stack.base}/dashboard/?key={stack.key()}")
    # The first start trains the demo league's champions: forecasts follow.
    wait_for("three live forecasts", lambda: len(received(page)) >= 3, 240)
    assert page.locator("#board tbody tr").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "live-board-phone.png"), full_page=True)
    before_restart = len(received(page))
    opened = page.evaluate("window.sportcast.opened")

    stack.stop()  # every stream ends (retry hint); the browser keeps retrying
    time.sleep(2)
    stack.start()  # another gateway process: it must resume the browser exactly
    wait_for(
        "the stream to reopen and deliver",
        lambda: (
            page.evaluate("window.sportcast.opened") > opened
            and len(received(page)) >= before_restart + 3
        ),
        180,
    )
    ids = [int(i) for i in received(page)]
    assert ids == sorted(set(ids)), "an update was repeated or came out of order"
    assert ids == forecast_positions(stack, ids[0], ids[-1]), "an update was missed"
    assert page.evaluate("window.sportcast.resets") == []
    page.close()


def test_every_chart_renders_with_data(stack: Stack, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{stack.base}/dashboard/?key={stack.key()}")
    wait_for("a fixture on the board", lambda: page.locator("#board tbody a").count() > 0, 120)
    href = page.locator("#board tbody a").first.get_attribute("href")
    page.goto(f"{stack.base}/dashboard/{href}")
    for chart in ("#odds-chart", "#forecast-chart"):
        page.wait_for_selector(f"{chart}[data-points]", timeout=60_000)
        assert int(page.get_attribute(chart, "data-points") or 0) > 0
    page.screenshot(path=str(ARTIFACTS / "fixture.png"), full_page=True)

    def model_page_has_data() -> bool:
        page.goto(f"{stack.base}/dashboard/model.html")
        page.wait_for_timeout(1500)
        return (
            page.locator("#calibration-chart[data-points]").count() == 1
            and page.locator("#rps-chart[data-points]").count() == 1
            and page.locator("#record tbody tr").count() > 0
        )

    # Settled forecasts arrive as the demo's matches finish.
    wait_for("settled forecasts on the model page", model_page_has_data, 240)
    page.screenshot(path=str(ARTIFACTS / "model.png"), full_page=True)
    page.goto(f"{stack.base}/dashboard/health.html")
    wait_for("feed freshness rows", lambda: page.locator("#freshness tbody tr").count() > 0, 60)
    page.goto(f"{stack.base}/dashboard/edge.html")
    wait_for("edge rows", lambda: page.locator("#edges tbody tr").count() > 0, 60)
    assert page.evaluate("window.sportcast.errors") == []
    page.close()


def test_a_key_without_the_competition_sees_none_of_it(stack: Stack, browser: Any) -> None:
    narrow = stack.narrow_key()
    wide = browser.new_page()
    wide.goto(f"{stack.base}/dashboard/?key={stack.key()}")
    page = browser.new_page()
    page.goto(f"{stack.base}/dashboard/?key={narrow}")
    wait_for("updates for the full key", lambda: len(received(wide)) >= 5, 120)
    assert received(page) == []
    assert page.locator("#board tbody tr").count() == 0
    page.goto(f"{stack.base}/dashboard/edge.html?key={narrow}")
    page.wait_for_timeout(2000)
    assert page.locator("#edges tbody tr").count() == 0
    page.screenshot(path=str(ARTIFACTS / "narrow-key.png"))
