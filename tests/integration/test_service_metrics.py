"""A service without HTTP (`sportcast serve projector|forecaster`, as compose runs them) serves
its own instruments at SPORTCAST_METRICS_PORT/metrics, on loopback unless told otherwise: the
projection lag, the forecaster's lag and the checkpointer's seals are scraped from that port,
not only from `sportcast up`'s gateway. In-process (the endpoint's server thread lives until the
test process ends), real nats-server and PostgreSQL (tests/conftest.py). The feed-health service
as a process: tests/integration/test_feed_health.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

from infra.bootstrap import build_checkpointer, running_forecaster
from infra.cli_common import serve_metrics
from infra.connections import connect_nats
from infra.embedded.ports import free_port
from infra.projections.wiring import running_projector
from infra.settings import Settings
from tests.checkpointing import append_events, checkpointed_settings
from tests.metrics_support import sample, scrape, scrape_until, value
from tests.small_models import small_football_model


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
    assert "sportcast_forecaster_lag_events{" not in scrape(port)


def test_the_checkpointer_serves_its_seals_on_its_metrics_port(
    nats_url: str, unique_name: str, tmp_path: Path
) -> None:
    port = free_port()
    settings = checkpointed_settings(
        nats_url, unique_name, tmp_path / "keys.json", metrics_port=port
    )
    head = append_events(settings, nats_url, 3)
    serve_metrics(settings, "sportcast-checkpointer")  # as `sportcast serve checkpointer` does
    stream = f'stream="{unique_name}"'

    async def main() -> tuple[str, str, str]:
        nc = await connect_nats(nats_url, reconnect=False)
        checkpointer = build_checkpointer(settings, nc)  # instrumented where it is built
        try:
            await checkpointer.seal()
            sealed = await asyncio.to_thread(scrape_until, port, stream)
            await nc.close()
            await checkpointer.seal()  # the store is away: a failure per stream, nothing written
            failed = await asyncio.to_thread(scrape_until, port, "sportcast_checkpoint_failures")
        finally:
            await checkpointer.stop()
        return sealed, failed, await asyncio.to_thread(scrape, port)

    sealed, failed, stopped = asyncio.run(main())
    assert value(sealed, "sportcast_checkpoint_writes_total", stream) == 1
    assert value(sealed, "sportcast_checkpoint_failures_total", stream) == 0
    assert value(sealed, "sportcast_checkpoint_position", stream) == head
    age = value(sealed, "sportcast_checkpoint_age_seconds", stream)
    assert age is not None
    assert 0 <= age < 20
    # A stream not made yet is sealed (nothing to seal) but has no position.
    forecasts = f'stream="{unique_name}_F"'
    assert value(sealed, "sportcast_checkpoint_age_seconds", forecasts) is not None
    assert value(sealed, "sportcast_checkpoint_position", forecasts) is None
    assert value(failed, "sportcast_checkpoint_failures_total", stream) == 1
    assert value(failed, "sportcast_checkpoint_writes_total", stream) == 1
    assert not sample(stopped, "sportcast_checkpoint_writes_total", stream)  # stopped: not read
