"""The analytics projection on the real event store: a replayed fortnight of football with
real forecasts, projected into DuckDB; every row accounted for; restarts (SIGKILL of a real
process included) end with the same tables as a build from zero."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest

from commands.forecasting.forecaster import Forecaster
from commands.ingestion import FeedIngestion
from domain.errors import DomainError
from domain.fixture import Fixture
from domain.forecast import FixtureForecasts
from domain.odds_book import OddsBook
from domain.provenance import Provenance
from forecasting.metrics import ranked_probability_score
from infra.analytics.runner import RebuildRefused
from infra.bootstrap import analytics_service
from infra.embedded.nats import EmbeddedNats
from infra.feeds.replay import Replay
from infra.forecasting.model_file import LoadedModel
from infra.forecasting.service import ForecasterService, forecaster_env
from infra.settings import Settings
from readmodels.analytics.engines import DuckDBEngine
from readmodels.analytics.queries import dashboard_query
from readmodels.analytics.schemas import TABLE_NAMES, analytics_table
from readmodels.analytics.store import AnalyticsStore
from readmodels.postgres.positions import read_positions_elsewhere
from tests.small_models import small_football_model

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", Path(__file__).parents[3] / "shared" / "data"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}"),
]
SPORTCAST = str(Path(sys.executable).parent / "sportcast")
OUTCOMES_1X2 = ("home", "draw", "away")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory, nats_server: Any) -> dict[str, str]:
    """A fortnight of real football in a feed stream, with the forecasts of a real model."""
    stream = f"ANALYTICS_{os.getpid()}_{random.randrange(1 << 30)}"
    env = {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": nats_server.url}
    env["NATS_STREAM"] = stream
    app = FeedIngestion(env)
    received = Provenance(source="test", received_at=datetime.now(UTC))
    for message in Replay(DATA, since=date(2016, 3, 1), until=date(2016, 3, 15)).messages(
        "football"
    ):
        with contextlib.suppress(DomainError):  # impossible prices are refused, as live
            app.handle(message.build(message.key, received))
    head = app.recorder.max_notification_id() or 0
    app.close()
    service = ForecasterService(env, stream + "_F", LoadedModel.from_bytes(small_football_model()))
    service.start()
    deadline = time.monotonic() + 180
    while service.position < head:
        assert service.failure is None, service.failure
        assert time.monotonic() < deadline, "the forecaster did not catch up"
        time.sleep(0.1)
    service.stop()
    return {"url": nats_server.url, "stream": stream, "forecasts": stream + "_F"}


def settings_for(replayed: dict[str, str], tmp: Path) -> Settings:
    return Settings(
        nats_url=replayed["url"],
        stream_name=replayed["stream"],
        forecaster_stream=replayed["forecasts"],
        state_dir=tmp,
    )


def build(replayed: dict[str, str], path: Path, *, page: int = 5000) -> None:
    settings = settings_for(replayed, path.parent)
    settings.analytics_page_events = page
    service = analytics_service(settings, replayed["url"], path=path)
    try:
        service.runner.catch_up()
    finally:
        service.close()


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    store = AnalyticsStore(path)
    try:
        con = store.reader()
        tables = {}
        for name in TABLE_NAMES:
            key = ", ".join(f'"{c}"' for c in analytics_table(name).primary_key)
            tables[name] = con.execute(f'SELECT * FROM "{name}" ORDER BY {key}').fetchall()
        tables["positions"] = sorted(store.positions().items())
        return tables
    finally:
        store.close()


def events(env: dict[str, str]) -> tuple[list[Any], list[Any]]:
    """The feed's and the forecaster's domain events, decoded independently of the runner."""
    feeds = FeedIngestion(env)
    forecasts = Forecaster(forecaster_env(env, env["FORECASTS"]))
    try:
        feed = [feeds.mapper.to_domain_event(n) for n in _all(feeds)]
        issued = [forecasts.mapper.to_domain_event(n) for n in _all(forecasts)]
    finally:
        forecasts.close()
        feeds.close()
    return feed, [e for e in issued if isinstance(e, FixtureForecasts.ForecastIssued)]


def _all(app: Any) -> list[Any]:
    out: list[Any] = []
    while True:
        batch = app.recorder.select_notifications(start=out[-1].id + 1 if out else 1, limit=5000)
        out.extend(batch)
        if len(batch) < 5000:
            return out


@pytest.fixture(scope="module")
def built(replayed: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("analytics") / "analytics.duckdb"
    build(replayed, path)
    return path


@pytest.fixture(scope="module")
def logged(replayed: dict[str, str]) -> tuple[list[Any], list[Any]]:
    env = {
        "PERSISTENCE_MODULE": "infra.eventstore",
        "NATS_URL": replayed["url"],
        "NATS_STREAM": replayed["stream"],
        "FORECASTS": replayed["forecasts"],
    }
    return events(env)


def test_every_quoted_outcome_and_every_forecast_outcome_is_one_row(
    built: Path, logged: tuple[list[Any], list[Any]]
) -> None:
    feed, forecasts = logged
    quoted = sum(len(e.decimal_prices) for e in feed if isinstance(e, OddsBook.OddsQuoted))
    issued = sum(len(e.outcomes) for e in forecasts)
    fixtures = {str(f.fixture_id) for f in forecasts}
    tables = dump(built)
    assert len(forecasts) > 50
    assert len(tables["odds_quotes"]) == quoted
    assert len(tables["forecasts"]) == issued
    assert len(tables["forecasts_latest"]) == 3 * len(fixtures)
    assert dict(tables["positions"])["forecaster"] >= 1


def test_finished_fixtures_settle_every_forecast_with_the_rps_of_the_metrics_module(
    built: Path, logged: tuple[list[Any], list[Any]]
) -> None:
    feed, forecasts = logged
    results = {
        str(e.originator_id): e.score
        for e in feed
        if isinstance(e, (Fixture.Finished, Fixture.ResultCorrected))
    }
    settled = [f for f in forecasts if str(f.fixture_id) in results]
    assert settled, "the fortnight has finished fixtures with forecasts"
    probabilities = np.array([f.probabilities for f in settled], dtype=np.float64)

    def outcome(score: Any) -> int:
        return 0 if score.home > score.away else 1 if score.home == score.away else 2

    observed = np.array([outcome(results[str(f.fixture_id)]) for f in settled])
    engine = DuckDBEngine(AnalyticsStore(built).reader)
    model_id = settled[0].model_id
    rows = engine.run(dashboard_query("track_record"), {"model_id": model_id})
    assert sum(r["forecasts"] for r in rows) == len(settled)
    mean_rps = sum(r["mean_rps"] * r["forecasts"] for r in rows) / len(settled)
    assert mean_rps == pytest.approx(ranked_probability_score(probabilities, observed), abs=1e-12)
    calibration = engine.run(
        dashboard_query("calibration"), {"model_id": model_id, "market": "1x2"}
    )
    assert sum(r["outcomes"] for r in calibration) == 3 * len(settled)
    assert sum(r["observed_rate"] * r["outcomes"] for r in calibration) == pytest.approx(
        len(settled)
    )


def test_feed_freshness_is_the_last_quote_per_source_and_competition(
    built: Path, logged: tuple[list[Any], list[Any]]
) -> None:
    feed, _ = logged
    scheduled = [e for e in feed if isinstance(e, Fixture.Scheduled)]
    opened = [e for e in feed if isinstance(e, OddsBook.Opened)]
    competition = {str(e.originator_id): e.competition for e in scheduled}
    book = {str(e.originator_id): (e.source, str(e.fixture_id)) for e in opened}
    last: dict[tuple[str, str], int] = defaultdict(int)
    for e in feed:
        if isinstance(e, OddsBook.OddsQuoted):
            source, fixture = book[str(e.originator_id)]
            millis = int(e.quoted_at.timestamp() * 1000)
            key = (source, competition[fixture])
            last[key] = max(last[key], millis)
    engine = DuckDBEngine(AnalyticsStore(built).reader)
    rows = engine.run(dashboard_query("feed_freshness"), {"since": 0})
    assert {(r["source"], r["competition"]): r["last_quoted_at"] for r in rows} == dict(last)


def test_a_build_in_many_small_batches_equals_one_in_few(
    replayed: dict[str, str], built: Path, tmp_path: Path
) -> None:
    path = tmp_path / "small.duckdb"
    build(replayed, path, page=97)
    assert dump(path) == dump(built)


def delivered(nats: EmbeddedNats) -> int:
    """The messages the nats-server has delivered to its clients so far (/varz out_msgs): how
    far a reader has read, seen from outside while it holds its DuckDB file locked."""
    with urllib.request.urlopen(f"{nats.monitor_url}/varz", timeout=10) as answer:
        return int(json.load(answer)["out_msgs"])


def positions(path: Path) -> dict[str, int]:
    store = AnalyticsStore(path)
    try:
        return store.positions()
    finally:
        store.close()


def test_sigkilled_projector_resumes_to_the_same_tables_as_a_build_from_zero(
    replayed: dict[str, str], built: Path, tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    path = tmp_path / "killed.duckdb"
    env = {
        **os.environ,
        "SPORTCAST_NATS_URL": replayed["url"],
        "SPORTCAST_STREAM_NAME": replayed["stream"],
        "SPORTCAST_FORECASTER_STREAM": replayed["forecasts"],
        "SPORTCAST_ANALYTICS_DB": str(path),
        "SPORTCAST_ANALYTICS_PAGE_EVENTS": "150",
        "SPORTCAST_STATE_DIR": str(tmp_path),
    }
    heads = positions(built)
    # What a whole catch-up reads, counted on the server (nothing else reads meanwhile).
    before = delivered(nats_server)
    build(replayed, tmp_path / "measured.duckdb", page=150)
    whole = delivered(nats_server) - before
    # Each run is killed once it has read a random 25-60% of what was left to read: by what it
    # read, not by time, so the kill lands mid-way on a fast idle box and a loaded one alike.
    rng = random.Random(14)
    kills: list[dict[str, int]] = []
    left = 1.0
    for _ in range(3):
        target = rng.uniform(0.25, 0.6) * whole * left
        start = delivered(nats_server)
        process = subprocess.Popen(
            [SPORTCAST, "analytics", "run", "--catch-up"], env=env, stdout=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 120
            while delivered(nats_server) - start < target:
                assert process.poll() is None, "the run ended before the kill: nothing left"
                assert time.monotonic() < deadline, "the run read nothing for 120 s"
                time.sleep(0.01)
        finally:  # killed here, or when an assertion above fails: never left running
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        kills.append(positions(path))
        left = 1 - sum(kills[-1].values()) / sum(heads.values())
    finished = subprocess.run(
        [SPORTCAST, "analytics", "run", "--catch-up"], env=env, capture_output=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr.decode()
    # Killed mid-way: the first kill after progress, and every kill with work left.
    assert sum(kills[0].values()) > 0, (heads, kills)
    assert all(sum(k.values()) < sum(heads.values()) for k in kills), (heads, kills)
    assert dump(path) == dump(built)
    print(f"killed at {kills} of {heads} (a whole catch-up reads {whole} messages)")


def test_analytics_run_copies_where_it_stands_to_postgresql(
    replayed: dict[str, str], tmp_path: Path, postgres_url: str
) -> None:
    """Compose's analytics-sink (`sportcast analytics run`): `projections status` elsewhere
    reads its positions from PostgreSQL, as it does `sportcast up`'s."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")},
        "SPORTCAST_NATS_URL": replayed["url"],
        "SPORTCAST_STREAM_NAME": replayed["stream"],
        "SPORTCAST_FORECASTER_STREAM": replayed["forecasts"],
        "SPORTCAST_ANALYTICS_DB": str(tmp_path / "sink.duckdb"),
        "SPORTCAST_STATE_DIR": str(tmp_path),
        "SPORTCAST_POSTGRES_URL": postgres_url,
    }
    heads = {
        "events": _head({"NATS_STREAM": replayed["stream"]}, replayed["url"]),
        "forecasts": _head({"NATS_STREAM": replayed["forecasts"]}, replayed["url"]),
    }
    process = subprocess.Popen(
        [SPORTCAST, "analytics", "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        copied: dict[str, int] = {}
        while copied != heads:
            assert process.poll() is None, process.communicate()[1].decode()
            assert time.monotonic() < deadline, f"copied {copied}, heads {heads}"
            time.sleep(0.5)
            copied = asyncio.run(_elsewhere(postgres_url)).get("analytics", {})
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()


def _head(stream: dict[str, str], url: str) -> int:
    app = FeedIngestion({"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": url, **stream})
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


async def _elsewhere(postgres_url: str) -> dict[str, dict[str, int]]:
    conn = await asyncpg.connect(postgres_url)
    try:
        return await read_positions_elsewhere(conn)
    finally:
        await conn.close()


def test_a_running_projection_rebuilds_from_zero_beside_its_serving_tables(
    replayed: dict[str, str], built: Path, tmp_path: Path
) -> None:
    """Issue 14 §2 for the analytics tables: the live ones keep answering the dashboard and
    keep being written while fresh ones are built from zero beside them; the switch is one
    transaction; afterwards the tables equal a build from zero, rows damaged before included."""
    path = tmp_path / "live.duckdb"
    settings = settings_for(replayed, tmp_path)
    settings.analytics_page_events = 150  # many steps: the live one moves during the rebuild
    service = analytics_service(settings, replayed["url"], path=path)
    runner = service.runner
    with pytest.raises(RebuildRefused) as idle:
        runner.request_rebuild()
    assert idle.value.code == "analytics-not-running"
    for _ in range(20):  # the live tables stand part-way; they catch up during the rebuild
        runner.step()
    reader = service.store.reader()
    damaged = reader.execute("DELETE FROM odds_quotes WHERE outcome = 'draw'").fetchone()
    assert damaged is not None
    assert damaged[0] > 0
    engine = DuckDBEngine(service.store.reader)
    answers: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def dashboard() -> None:
        while not stop.is_set():
            try:
                rows = engine.run(dashboard_query("feed_freshness"), {"since": 0})
                progress = runner.rebuild_progress
                answers.append((progress.state if progress else "before", len(rows)))
            except BaseException as exc:
                errors.append(exc)
                return

    asking = threading.Thread(target=dashboard)
    try:
        runner.start()
        asking.start()
        runner.request_rebuild()
        with pytest.raises(RebuildRefused) as twice:
            runner.request_rebuild()
        assert twice.value.code == "analytics-rebuild-running"
        deadline = time.monotonic() + 180
        while not (progress := runner.rebuild_progress) or not progress.finished:
            assert runner.failure is None, runner.failure
            assert time.monotonic() < deadline, f"no switch in 180 s: {progress}"
            time.sleep(0.05)
        assert progress.state == "switched", progress
        assert progress.events > 0
        deadline = time.monotonic() + 60
        while service.store.positions() != dict(dump(built)["positions"]):
            assert time.monotonic() < deadline, service.store.positions()
            time.sleep(0.05)
    finally:
        stop.set()
        if asking.is_alive():
            asking.join(30)
        service.close()
    assert not errors, errors
    during = [rows for state, rows in answers if state == "building"]
    assert during, answers[:5]
    assert all(rows > 0 for rows in during), answers[:5]
    assert dump(path) == dump(built)
