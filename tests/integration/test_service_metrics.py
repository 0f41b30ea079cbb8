"""A service without HTTP (`sportcast serve projector|forecaster`, as compose runs them) serves
its own instruments at SPORTCAST_METRICS_PORT/metrics, on loopback unless told otherwise: the
projection lag and the forecaster's lag are scraped from that port, not only from `sportcast up`'s
gateway. In-process (the endpoint's server thread lives until the test process ends), real
nats-server and PostgreSQL (tests/conftest.py). The feed-health service as a process:
tests/integration/test_feed_health.py."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

from infra.bootstrap import running_forecaster
from infra.cli import serve_metrics
from infra.embedded.ports import free_port
from infra.projections.wiring import running_projector
from infra.settings import Settings
from tests.small_models import small_football_model


def sample(text: str, metric: str, label: str) -> bool:
    """Whether ``text`` holds a sample of ``metric`` with the label ``label`` (k="v")."""
    return any(
        line.startswith(metric + "{") and label in line.split("}")[0] for line in text.splitlines()
    )


def scrape_until(port: int, wanted: str, *, within: float = 20.0) -> str:
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


def test_the_projector_serves_its_lag_on_its_metrics_port(
    nats_url: str, postgres_url: str, unique_name: str
) -> None:
    port = free_port()
    settings = Settings(
        nats_url=nats_url,
        postgres_url=postgres_url,
        stream_name=unique_name,
        forecaster_stream=unique_name + "_F",
        feed_health_stream=unique_name + "_H",
        metrics_port=port,
    )
    assert settings.metrics_host == "127.0.0.1"  # loopback unless told otherwise
    serve_metrics(settings, "sportcast-projector")  # as `sportcast serve projector` does

    async def main() -> str:
        async with running_projector(settings, nats_url, postgres_url) as runner:
            assert await runner.caught_up(20)
            return await asyncio.to_thread(scrape_until, port, "sportcast_projection_lag")

    text = asyncio.run(main())
    assert sample(text, "sportcast_projection_lag_events", 'projection="fixtures"')
    assert sample(text, "sportcast_projection_lag_seconds", 'projection="forecasts"')


def test_the_forecaster_serves_its_lag_on_its_metrics_port(
    nats_url: str, unique_name: str, tmp_path: Path
) -> None:
    model = tmp_path / "football.model"
    model.write_bytes(small_football_model())
    port = free_port()
    settings = Settings(
        nats_url=nats_url,
        stream_name=unique_name,
        forecaster_stream=unique_name + "_F",
        model_registry_stream=unique_name + "_R",
        model_bucket=unique_name + "_M",
        model_file=model,
        metrics_port=port,
    )
    serve_metrics(settings, "sportcast-forecaster")  # as `sportcast serve forecaster` does
    # Twice in one process: the instruments are registered once, so the second service must be
    # observed by them too (a second registration of a name kept the first, stopped, service).
    for _ in range(2):
        running = running_forecaster(settings, nats_url)
        assert running is not None
        try:
            running.start()
            text = scrape_until(port, "sportcast_forecaster_lag_events")
        finally:
            running.stop()
        assert sample(
            text, "sportcast_forecaster_lag_events", 'otel_scope_name="sportcast.forecaster"'
        )
    assert "sportcast_forecaster_lag_events{" not in scrape_until(port, "never", within=0.5)
