"""The dashboard on the embedded stack, in Debian's headless Chromium: page load to the first
live update on the live board.

Set-up (untimed): `sportcast up` in a fresh data directory, started once to train the demo
league's champions, stopped, and started again (the benchmark measures the second start, as a
returning user sees it). Then BENCH_LOADS (default 20) loads of the live board, each in a new
page: time from navigation to the first forecast rendered from the stream (target < 2 s), and,
as the floor peer in the same run, to the DOMContentLoaded event of the same page.
Forecasts arrive every second or two in the demo, so the first update also waits for the next
forecast: the difference to the floor is mostly that wait.
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


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sportcast-bench-dashboard-") as tmp:
        Path(tmp).chmod(0o755)
        stack = Stack(Path(tmp) / "state", Path(tmp) / "stack.log")
        stack.start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(f"{stack.base}/dashboard/?key={stack.key()}")
                started = time.monotonic()
                page.wait_for_function("window.sportcast.received.length > 0", timeout=600_000)
                print(f"# first start: first live update after {time.monotonic() - started:.1f} s")
                browser.close()
            stack.stop()
            stack.start()
            first_update, loaded = measure(stack)
        finally:
            stack.stop()
    for name, values in (("first_live_update", first_update), ("dom_content_loaded", loaded)):
        arr = np.array(values)
        print(f"{name}_p50 {np.percentile(arr, 50):.0f} ms")
        print(f"{name}_p95 {np.percentile(arr, 95):.0f} ms")
    print(
        f"first_update_minus_loaded_p50 {np.percentile(np.array(first_update) - loaded, 50):.0f} ms"
    )
    print("peer: DOMContentLoaded of the same page (the floor: no data at all)")


def measure(stack: Stack) -> tuple[list[float], list[float]]:
    first_update: list[float] = []
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
            loaded.append(
                page.evaluate(
                    "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
                )
            )
            page.close()
        browser.close()
    return first_update, loaded


if __name__ == "__main__":
    main()
