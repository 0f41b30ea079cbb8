"""The dashboard on the embedded stack, in Debian's headless Chromium: how soon `sportcast up`
forecasts, and page load to the first live update on the live board.

Set-up: `sportcast up` in a fresh data directory, started once (it trains the demo league's
champions), stopped, and started again (as a returning user sees it). For each start: seconds
from launching `sportcast up` to its gateway answering /health and to the first forecast on
/v1/streams/forecasts (targets: 90 s on the first start, 10 s on the second). Then BENCH_LOADS
(default 20) loads of the live board, each in a new page, timed from navigation:
- first live update: the first forecast the stream delivered, rendered (target < 2 s); the page
  asks for the gateway's most recent forecasts first (`recent`), so this is usually one issued
  shortly before the page opened;
- first new forecast: the first one issued after the navigation began (this waits for the demo
  feed's next forecast, whatever the page does);
- DOMContentLoaded of the same page: the floor, the peer in the same run (no data at all).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

from tests.running_stack import CHROMIUM, CHROMIUM_ARGS, Stack

LOADS = int(os.environ.get("BENCH_LOADS", "20"))
# The first forecast the page received, and the first issued after the page began to load (its
# receipt time, ms since navigation), from window.sportcast (gateway/dashboard/static/app.js).
_FIRST_NEW = (
    "(() => { const a = window.sportcast.arrivals.find(([, issued]) =>"
    " issued && Date.parse(issued) >= performance.timeOrigin); return a ? a[0] : null; })()"
)


def timed_start(stack: Stack, which: str, timeout: float) -> None:
    launched = time.monotonic()
    stack.start()
    healthy = time.monotonic() - launched
    forecast = stack.first_forecast(timeout)
    print(
        f"# {which} start: /health after {healthy:.1f} s, first forecast on the SSE stream"
        f" after {time.monotonic() - launched:.1f} s (issued {forecast['issued_at']})"
    )


def main() -> None:
    print(f"# load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="sportcast-bench-dashboard-") as tmp:
        Path(tmp).chmod(0o755)
        stack = Stack(Path(tmp) / "state", Path(tmp) / "stack.log")
        try:
            timed_start(stack, "first", 600)
            stack.stop()
            timed_start(stack, "second", 120)
            first_update, first_new, loaded = measure(stack)
        finally:
            stack.stop()
    for name, values in (
        ("first_live_update", first_update),
        ("first_new_forecast", first_new),
        ("dom_content_loaded", loaded),
    ):
        arr = np.array(values)
        print(f"{name}_p50 {np.percentile(arr, 50):.0f} ms")
        print(f"{name}_p95 {np.percentile(arr, 95):.0f} ms")
    print(
        f"first_update_minus_loaded_p50 {np.percentile(np.array(first_update) - loaded, 50):.0f} ms"
    )
    print("peer: DOMContentLoaded of the same page (the floor: no data at all)")
    print(f"# load average at end: {os.getloadavg()}")


def measure(stack: Stack) -> tuple[list[float], list[float], list[float]]:
    first_update: list[float] = []
    first_new: list[float] = []
    loaded: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        url = f"{stack.base}/dashboard/?key={stack.key()}"
        for _ in range(LOADS):
            page = browser.new_page()
            page.add_init_script(
                "window.__firstUpdate = null; new MutationObserver(() => {"
                " if (window.__firstUpdate === null && window.sportcast"
                " && window.sportcast.received.length > 0)"
                " window.__firstUpdate = performance.now(); })"
                ".observe(document, {subtree: true, childList: true, characterData: true});"
            )
            page.goto(url)
            page.wait_for_function("window.__firstUpdate !== null", timeout=60_000)
            first_update.append(page.evaluate("window.__firstUpdate"))
            page.wait_for_function(f"{_FIRST_NEW} !== null", timeout=60_000)
            first_new.append(page.evaluate(_FIRST_NEW))
            loaded.append(
                page.evaluate(
                    "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
                )
            )
            page.close()
        browser.close()
    return first_update, first_new, loaded


if __name__ == "__main__":
    main()
