"""Reading a service's /metrics as Prometheus scrapes it (serve_metrics' endpoint)."""

from __future__ import annotations

import time
import urllib.request


def sample(text: str, metric: str, label: str) -> bool:
    """Whether ``text`` holds a sample of ``metric`` with the label ``label`` (k="v")."""
    return any(
        line.startswith(metric + "{") and label in line.split("}")[0] for line in text.splitlines()
    )


def value(text: str, metric: str, *labels: str) -> float | None:
    """The value of the sample of ``metric`` with every label of ``labels`` (None: none)."""
    for line in text.splitlines():
        if line.startswith(metric + "{"):
            names, _, number = line.rpartition(" ")
            if all(label in names.split("}")[0] for label in labels):
                return float(number)
    return None


def scrape(port: int) -> str:
    """The endpoint's text now (one scrape)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
        assert answer.status == 200
        return bytes(answer.read()).decode()


def scrape_until(port: int, wanted: str, *, within: float = 30.0) -> str:
    """The endpoint's text once it holds ``wanted`` (the last text seen otherwise)."""
    deadline = time.monotonic() + within
    text = ""
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            assert answer.status == 200
            text = bytes(answer.read()).decode()
        if wanted in text:
            return text
        time.sleep(0.2)
    return text
