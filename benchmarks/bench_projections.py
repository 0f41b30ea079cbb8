"""Projections: a full rebuild of the PostgreSQL read models, against eventsourcing's own runner,
and the lag from append to committed row at a paced 2,000 events/s.

All real processes: an embedded nats-server (server default flush, as ``replicated``; the
rebuild only reads) and an embedded PostgreSQL 18.

1. Untimed set-up: football from BENCH_FROM to BENCH_TO (default: the whole dataset, ~450,000
   feed notifications) replayed into the feed stream; a forecaster (a small CatBoost model
   trained on synthetic rows; its quality is not under test) issues its forecasts over it into
   the forecasts stream.
2. **Rebuild, ours**: every PostgreSQL projection (fixtures, odds, forecasts, track record, feed
   health, quarantine) from zero into an empty database by our ProjectionRunner. Figure:
   notifications in the followed streams / wall seconds until every projection is at the heads.
   BENCH_REBUILD_ROUNDS=n alternates n rebuilds with each projection reading on its own and n
   with shared reads (SPORTCAST_PROJECTOR_SHARE_READS); the ratio is printed (same run).
3. **Ratio, same rows**: the fixtures and odds read models over the first BENCH_PEER_EVENTS feed
   notifications, (a) by our runner, (b) by eventsourcing's ``ProjectionRunner`` with a
   ``PostgresTrackingRecorder`` view (one transaction per event with its tracking row, the
   documented pattern) writing the same tables (the same migrations, its own schemas). The rows
   of both are compared, then events/s of each over the same notifications.
4. **Lag**: a `sportcast serve projector` process follows a fresh stream into which this process
   copies stored feed messages paced at BENCH_RATE (2,000) domain events/s (bench_forecaster_lag's
   paced copy). Lag of a notification = when the last projection following the feed committed
   it (its NOTIFY seen here) minus when the stream stored it (its republished header seen here),
   both on this process's clock. With BENCH_LAG_ROUNDS=n, n runs with each projection reading
   on its own alternate with n where the projections following a stream share its reads
   (SPORTCAST_PROJECTOR_SHARE_READS).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import singledispatchmethod
from pathlib import Path
from typing import Any

import asyncpg
import nats.js.errors
import numpy as np
import psutil
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from eventsourcing.utils import get_topic

from benchmarks.bench_forecaster_lag import play_paced, stored
from commands.ingestion import FeedIngestion
from domain.fixture import Fixture
from domain.odds_book import OddsBook
from infra.bootstrap import event_store_env, open_intake
from infra.connections import connect_nats, ensure_database
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.ports import free_port
from infra.embedded.postgres import EmbeddedPostgres, PostgresConfig
from infra.feeds.player import FeedPlayer
from infra.feeds.replay import Replay
from infra.forecasting.model_file import LoadedModel
from infra.forecasting.service import ForecasterService
from infra.projections.logs import StoreEventLog
from infra.projections.wiring import open_logs
from infra.settings import Settings
from projections.catalogue import postgres_projections
from projections.fixtures import APPLY as FIXTURE_EVENTS
from projections.log import EventLog, Page
from projections.runner import ProjectionRunner as OurRunner
from readmodels.postgres.migrate import apply_migrations
from readmodels.postgres.positions import CHANNEL
from tests.football_month import small_model

DATA = Path(os.environ.get("SPORTCAST_DATA_DIR", "../shared/data"))
SINCE = date.fromisoformat(os.environ["BENCH_FROM"]) if "BENCH_FROM" in os.environ else None
UNTIL = date.fromisoformat(os.environ["BENCH_TO"]) if "BENCH_TO" in os.environ else None
PEER_EVENTS = int(os.environ.get("BENCH_PEER_EVENTS", "60000"))
RATE = float(os.environ.get("BENCH_RATE", "2000"))
LAG_EVENTS = int(os.environ.get("BENCH_LAG_EVENTS", "60000"))
LAG_ROUNDS = int(os.environ.get("BENCH_LAG_ROUNDS", "1"))
REBUILD_ROUNDS = int(os.environ.get("BENCH_REBUILD_ROUNDS", "1"))
"""Rebuilds with each projection reading on its own, then with shared reads, alternated."""
"""Lag runs with each projection reading on its own, then with shared reads, alternated."""
FEED, FORECASTS, HEALTH, PACED = "BENCH_FEED", "BENCH_FORECASTS", "BENCH_HEALTH", "BENCH_PACED"
SPORTCAST = str(Path(sys.executable).parent / "sportcast")


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(*pids: int | None) -> dict[str, float]:
    """CPU seconds used so far by this process (our runner) and by each of ``pids`` with its
    children (PostgreSQL's backends, ended ones included): steadier than wall time on a box
    where a process gets about 2/load of a core."""
    used: dict[str, float] = {}
    for pid in (os.getpid(), *pids):
        if pid is None:
            continue
        root = psutil.Process(pid)
        name = "runner" if pid == os.getpid() else root.name()
        t = root.cpu_times()
        total = t.user + t.system
        if pid != os.getpid():
            total += t.children_user + t.children_system
            for child in root.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    c = child.cpu_times()
                    total += c.user + c.system
        used[name] = total
    return used


def per_notification(before: dict[str, float], after: dict[str, float], n: int) -> str:
    parts = [f"{k} {(after[k] - before[k]) / n * 1e6:.1f}" for k in after]
    total = sum(after[k] - before[k] for k in after)
    return f"CPU us/notification: {', '.join(parts)}, all {total / n * 1e6:.1f}"


# -- set-up -------------------------------------------------------------------------------


async def replay(url: str, settings: Settings) -> int:
    messages = Replay(DATA, since=SINCE, until=UNTIL).messages("football")
    nc = await connect_nats(url)
    try:
        async with open_intake(settings, url, nc, workers=64) as intake:
            report = await FeedPlayer(intake, source="replay-football", lanes=64).play(messages)
    finally:
        await nc.close()
    return report.events_stored


def head(env: dict[str, str]) -> int:
    app = FeedIngestion(env)
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def forecast(env: dict[str, str]) -> None:
    service = ForecasterService(env, FORECASTS, LoadedModel.from_bytes(small_model()))
    target = head(env)
    if _position(service) >= target:  # a kept store, already forecast
        service.stop(flush=False)
        return
    service.start()
    while _position(service) < target:
        if service.failure is not None:
            raise RuntimeError(service.failure.describe())
        time.sleep(0.5)
    service.stop()


def _position(service: ForecasterService) -> int:
    """The forecaster's position; -1 when the store did not answer in time (a loaded box)."""
    try:
        return service.position
    except TimeoutError:
        return -1


# -- ours ---------------------------------------------------------------------------------


class CappedLog:
    """A log that ends at ``stop``: both runners then apply exactly notifications 1..stop."""

    def __init__(self, log: EventLog, stop: int) -> None:
        self._log = log
        self._stop = stop

    @property
    def name(self) -> str:
        return self._log.name

    async def read(self, after: int, limit: int, topics: Sequence[str]) -> Page:
        page = await self._log.read(after, limit, topics)
        kept = [n for n in page.notifications if n.id <= self._stop]
        through = min(page.through, self._stop)
        return Page(kept, through, page.at_head or through >= self._stop)

    async def head(self) -> int:
        return min(await self._log.head(), self._stop)

    async def wait_for_news(self, after: int, within: float) -> None:
        await asyncio.sleep(within)


async def run_ours(
    settings: Settings,
    postgres_url: str,
    names: list[str] | None,
    stop: int | None = None,
    *,
    share_reads: bool = False,
) -> float:
    async with open_logs(settings, settings.nats_client_url) as opened:
        logs: dict[str, EventLog] = dict(opened.logs)
        if stop is not None:
            logs = {"events": CappedLog(logs["events"], stop)}
        projections = postgres_projections(postgres_url, names)
        for p in projections:  # migrations are not part of the rebuild's time
            await asyncio.to_thread(p.migrate)
        runner = OurRunner(
            projections, logs, page_size=settings.projector_page_events, share_reads=share_reads
        )
        started = time.perf_counter()
        async with runner:
            if not await runner.caught_up(3600):
                raise RuntimeError(f"did not catch up: {runner.status()}")
            seconds = time.perf_counter() - started
        for s in runner.statuses.values():
            if s.error:
                raise RuntimeError(f"{s.name} failed: {s.error}")
        return seconds


# -- the peer: eventsourcing's ProjectionRunner + PostgresTrackingRecorder ----------------

FIXTURES, ODDS = "peer_fixtures", "peer_odds"


class PeerView(PostgresTrackingRecorder):
    """The documented pattern (PostgresCountRecorder): the tracking row and the view's rows
    in one transaction per event."""

    stop = PEER_EVENTS
    """Events after this are left alone, so the rows compare with ours over 1..stop."""

    def write(self, tracking: Tracking, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        if tracking.notification_id > self.stop:
            return
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(curs, tracking)
            for sql, params in statements:
                curs.execute(sql, params)


_FIXTURE_TOPICS = tuple(FIXTURE_EVENTS)  # the same events our fixtures projection follows


class PeerProjection(Projection[PeerView]):
    name = "peer"
    topics = (*_FIXTURE_TOPICS, get_topic(OddsBook.Opened), get_topic(OddsBook.OddsQuoted))

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.write(tracking, self._fixture(domain_event, tracking.notification_id))

    @process_event.register
    def _(self, e: OddsBook.Opened, tracking: Tracking) -> None:
        self.view.write(
            tracking,
            [
                (
                    f"INSERT INTO {ODDS}.odds_latest (book_id, fixture_id, market, source, quotes,"
                    " position) VALUES (%s, %s, %s, %s, 0, %s)",
                    (
                        e.originator_id,
                        e.fixture_id,
                        str(e.market),
                        e.source,
                        tracking.notification_id,
                    ),
                )
            ],
        )

    @process_event.register
    def _(self, e: OddsBook.OddsQuoted, tracking: Tracking) -> None:
        quote = (
            e.quoted_at,
            None if e.stage is None else str(e.stage),
            str(e.price_format),
            [str(p) for p in e.raw_prices],
            [float(p) for p in e.decimal_prices],
            float(e.overround),
            str(e.margin_method),
            [float(p) for p in e.probabilities],
        )
        n = tracking.notification_id
        self.view.write(
            tracking,
            [
                (
                    f"INSERT INTO {ODDS}.odds_history (position, book_id, fixture_id, quoted_at,"
                    " stage, price_format, raw_prices, decimal_prices, overround, margin_method,"
                    " probabilities) SELECT %s, book_id, fixture_id, %s, %s, %s, %s, %s, %s, %s,"
                    f" %s FROM {ODDS}.odds_latest WHERE book_id = %s",
                    (n, *quote, e.originator_id),
                ),
                (
                    f"UPDATE {ODDS}.odds_latest SET quoted_at = %s, stage = %s, price_format = %s,"
                    " raw_prices = %s, decimal_prices = %s, overround = %s, margin_method = %s,"
                    " probabilities = %s, quotes = quotes + 1, position = %s WHERE book_id = %s",
                    (*quote, n, e.originator_id),
                ),
            ],
        )

    def _fixture(self, e: Any, n: int) -> list[tuple[str, tuple[Any, ...]]]:
        t = f"{FIXTURES}.fixtures"
        fid = e.originator_id
        if isinstance(e, Fixture.Scheduled):
            sql = (
                f"INSERT INTO {t} (fixture_id, sport, competition, season, home, away, kickoff,"
                " venue, venue_country, status, home_score, away_score, corrections, position)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'scheduled', 0, 0, 0, %s)"
            )
            params: tuple[Any, ...] = (
                fid,
                str(e.sport),
                e.competition,
                e.season,
                e.home,
                e.away,
                e.kickoff,
                e.venue,
                e.venue_country,
                n,
            )
        elif isinstance(e, Fixture.Rescheduled):
            sql = (
                f"UPDATE {t} SET kickoff = %s, venue = %s, venue_country = %s,"
                " status = 'scheduled', called_off_reason = NULL, position = %s"
                " WHERE fixture_id = %s"
            )
            params = (e.kickoff, e.venue, e.venue_country, n, fid)
        elif isinstance(e, Fixture.Postponed | Fixture.Abandoned):
            status = "postponed" if isinstance(e, Fixture.Postponed) else "abandoned"
            sql = (
                f"UPDATE {t} SET status = %s, called_off_reason = %s, position = %s"
                " WHERE fixture_id = %s"
            )
            params = (status, e.reason, n, fid)
        elif isinstance(e, Fixture.Started):
            sql = (
                f"UPDATE {t} SET status = 'in-play', started_at = %s, position = %s"
                " WHERE fixture_id = %s"
            )
            params = (e.started_at, n, fid)
        elif isinstance(e, Fixture.GoalScored):
            sql = (
                f"UPDATE {t} SET home_score = %s, away_score = %s, minute = %s, stoppage = %s,"
                " position = %s WHERE fixture_id = %s"
            )
            params = (e.score.home, e.score.away, e.minute, e.stoppage, n, fid)
        elif isinstance(e, Fixture.CardShown):
            sql = f"UPDATE {t} SET minute = %s, stoppage = %s, position = %s WHERE fixture_id = %s"
            params = (e.minute, e.stoppage, n, fid)
        elif isinstance(e, Fixture.PeriodEnded):
            sql = (
                f"UPDATE {t} SET home_score = %s, away_score = %s, period = %s, position = %s"
                " WHERE fixture_id = %s"
            )
            params = (e.score.home, e.score.away, e.period, n, fid)
        else:  # Finished, ResultCorrected
            corrected = 1 if isinstance(e, Fixture.ResultCorrected) else 0
            sql = (
                f"UPDATE {t} SET status = 'finished', home_score = %s, away_score = %s,"
                " result_home = %s, result_away = %s, corrections = corrections + %s,"
                " position = %s WHERE fixture_id = %s"
            )
            params = (e.score.home, e.score.away, e.score.home, e.score.away, corrected, n, fid)
        return [(sql, params)]


def run_peer(
    env: dict[str, str], postgres_url: str, pg: EmbeddedPostgres, database: str, stop: int
) -> float:
    PeerView.stop = stop
    apply_migrations(postgres_url, "fixtures", FIXTURES)
    apply_migrations(postgres_url, "odds", ODDS)
    view_env = {
        "PEER_PERSISTENCE_MODULE": "eventsourcing.postgres",
        "PEER_POSTGRES_DBNAME": database,
        "PEER_POSTGRES_HOST": pg.config.host,
        "PEER_POSTGRES_PORT": str(pg.config.port),
        "PEER_POSTGRES_USER": pg.config.superuser,
        "PEER_POSTGRES_PASSWORD": pg.password(),  # scram-sha-256 with a generated password
        "PEER_POSTGRES_SCHEMA": "peer_tracking",
        "PEER_CREATE_TABLE": "true",
    }
    asyncio.run(_create_schema(postgres_url, "peer_tracking"))
    # The subscription yields only the followed topics, so the tracking position reaches the
    # last followed notification up to ``stop``, not ``stop`` itself.
    feeds = FeedIngestion(env)
    try:
        followed = feeds.recorder.select_notifications(
            1, stop, stop=stop, topics=PeerProjection.topics
        )
    finally:
        feeds.close()
    last = followed[-1].id
    started = time.perf_counter()
    with ProjectionRunner(
        application_class=FeedIngestion,
        projection_class=PeerProjection,
        view_class=PeerView,
        env={**env, **view_env},
    ) as runner:
        runner.wait(last, timeout=3600)
        seconds = time.perf_counter() - started
    return seconds


async def _create_schema(url: str, schema: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    finally:
        await conn.close()


async def same_rows(url: str) -> tuple[bool, dict[str, int]]:
    conn = await asyncpg.connect(url)
    try:
        counts: dict[str, int] = {}
        equal = True
        for ours, theirs, table in (
            ("rm_fixtures", FIXTURES, "fixtures"),
            ("rm_odds", ODDS, "odds_latest"),
            ("rm_odds", ODDS, "odds_history"),
        ):
            a = await conn.fetch(f"SELECT * FROM {ours}.{table} ORDER BY 1")
            b = await conn.fetch(f"SELECT * FROM {theirs}.{table} ORDER BY 1")
            counts[table] = len(a)
            rows_a, rows_b = [tuple(r) for r in a], [tuple(r) for r in b]
            if rows_a != rows_b:
                equal = False
                diff = next(((x, y) for x, y in zip(rows_a, rows_b, strict=False) if x != y), None)
                print(f"rows differ in {table}: {len(rows_a)} v {len(rows_b)}; first: {diff}")
        return equal, counts
    finally:
        await conn.close()


# -- lag ----------------------------------------------------------------------------------


def lag_phase(
    url: str, postgres_url: str, *, share_reads: bool = False
) -> tuple[list[float], float]:
    # Only what is replayed: reading the whole dataset's feed this way took over 15 minutes.
    records = asyncio.run(stored(url, FEED, f"es.{FEED}.evt.>", limit=LAG_EVENTS))
    asyncio.run(_create_paced_stream(url))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")},
        "SPORTCAST_NATS_URL": url,
        "SPORTCAST_POSTGRES_URL": postgres_url,
        "SPORTCAST_STREAM_NAME": PACED,
        "SPORTCAST_FORECASTER_STREAM": PACED + "_F",
        "SPORTCAST_FEED_HEALTH_STREAM": PACED + "_H",
        "SPORTCAST_PROJECTOR_SHARE_READS": "true" if share_reads else "false",
    }
    projector = subprocess.Popen([SPORTCAST, "serve", "projector"], env=env)
    try:
        return asyncio.run(_measure_lag(url, postgres_url, records))
    finally:
        projector.terminate()
        try:
            projector.wait(30)
        except subprocess.TimeoutExpired:  # a finding, not a reason to lose the figures
            print(f"the projector did not stop within 30 s of SIGTERM ({load()}); killed")
            projector.kill()
            projector.wait(30)


async def _create_paced_stream(url: str) -> None:
    # A kept store (BENCH_STORE_DIR) holds the last run's copy: its ids would be duplicates.
    nc = await connect_nats(url)
    try:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(PACED)
    finally:
        await nc.close()
    # The event store creates its stream on first use; a recorder made once does it.
    await asyncio.to_thread(
        lambda: StoreEventLog("events", {**_env(url), "NATS_STREAM": PACED}).close()
    )


def _env(url: str) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "infra.eventstore", "NATS_URL": url, "NATS_STREAM": FEED}


async def _measure_lag(
    url: str, postgres_url: str, records: list[Any]
) -> tuple[list[float], float]:
    stored_at: dict[int, float] = {}
    commits: dict[str, list[tuple[float, int]]] = {}
    nc = await connect_nats(url)

    async def on_stored(msg: Any) -> None:
        seq = msg.headers.get("Nats-Sequence") if msg.headers else None
        if seq is not None:
            stored_at[int(seq)] = time.perf_counter()

    await nc.subscribe(f"esn.{PACED}.>", cb=on_stored)
    listener = await asyncpg.connect(postgres_url)

    def on_commit(_c: object, _pid: int, _channel: str, payload: str) -> None:
        name, stream, position = payload.split()[:3]
        if stream == "events":
            commits.setdefault(name, []).append((time.perf_counter(), int(position)))

    await listener.add_listener(CHANNEL, on_commit)
    deadline = time.monotonic() + 120
    following = ("rm_fixtures", "rm_odds", "rm_track_record")
    while not all(
        [
            await listener.fetchval(
                "SELECT to_regclass($1) IS NOT NULL", f"{s}.projection_position"
            )
            for s in following
        ]
    ):  # the projector has migrated every projection that follows the feed
        if time.monotonic() > deadline:
            raise RuntimeError("the projector did not start")
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    started = time.perf_counter()
    await play_paced(url, records)
    paced_seconds = time.perf_counter() - started
    last = max(stored_at) if stored_at else 0
    deadline = time.monotonic() + 60

    def behind() -> bool:
        return len(commits) < 3 or any(c[-1][1] < last for c in commits.values())

    while behind() and time.monotonic() < deadline:  # noqa: ASYNC110 (NOTIFY callbacks fill it)
        await asyncio.sleep(0.1)
    await listener.close()
    await nc.close()
    lags = []
    for seq, at in stored_at.items():
        done = []
        for c in commits.values():
            when = next((t for t, p in c if p >= seq), None)
            if when is None:
                break
            done.append(when)
        else:
            lags.append(max(done) - at)
    rate = len(records) / paced_seconds if paced_seconds else 0.0
    return lags, rate


# -- main ---------------------------------------------------------------------------------


@contextmanager
def embedded_stack(kept: str | None) -> Iterator[tuple[EmbeddedNats, EmbeddedPostgres]]:
    """A nats-server (its store in ``kept`` if given, for the next run) and a fresh
    PostgreSQL, stopped and removed afterwards."""
    store = Path(kept) if kept else Path(tempfile.mkdtemp(prefix="bench-projections-"))
    store.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="bench-projections-pg-"))
    root.chmod(0o755)
    nats = EmbeddedNats(
        NatsConfig(
            store_dir=store / "nats", port=free_port(), monitor_port=free_port(), sync_always=False
        )
    )
    pg = EmbeddedPostgres(PostgresConfig(data_dir=root / "pg", port=free_port()))
    nats.start()
    pg.start()
    try:
        yield nats, pg
    finally:
        pg.stop()
        nats.stop()
        shutil.rmtree(root, ignore_errors=True)
        if not kept:
            shutil.rmtree(store, ignore_errors=True)


def main() -> None:
    with embedded_stack(os.environ.get("BENCH_STORE_DIR")) as (nats, pg):
        settings = Settings(
            nats_url=nats.url,
            stream_name=FEED,
            forecaster_stream=FORECASTS,
            feed_health_stream=HEALTH,
        )
        env = event_store_env(settings, nats.url)
        t = time.perf_counter()
        if head(env) == 0:
            stored_events = asyncio.run(replay(nats.url, settings))
            print(
                f"setup_replay {stored_events} events in {time.perf_counter() - t:.0f} s ({load()})"
            )
        t = time.perf_counter()
        if os.environ.get("BENCH_FORECAST", "1") != "0":  # 0: the forecasts already stored
            forecast(env)  # nothing to do when a kept store's forecaster is at the head
        feed, forecasts = head(env), head({**env, "NATS_STREAM": FORECASTS})
        print(f"setup_forecasts {forecasts} notifications in {time.perf_counter() - t:.0f} s")
        print(f"streams feed={feed} forecasts={forecasts} notifications")

        total = feed + forecasts
        timings: dict[bool, list[float]] = {True: [], False: []}
        for run, shared in enumerate([False, True] * REBUILD_ROUNDS):
            ours_url = pg.url(f"ours{run}")
            asyncio.run(ensure_database(ours_url))
            before = cpu_seconds(pg.pid, nats.pid)
            seconds = asyncio.run(
                run_ours(
                    settings.model_copy(update={"postgres_url": ours_url}),
                    ours_url,
                    None,
                    share_reads=shared,
                )
            )
            used = per_notification(before, cpu_seconds(pg.pid, nats.pid), total)
            timings[shared].append(seconds)
            how = "one shared read per stream" if shared else "each projection reads on its own"
            print(
                f"rebuild_ours_all_projections ({how}) {total} notifications in {seconds:.1f} s"
                f" = {total / seconds:,.0f} notifications/s (target 20,000) ({load()}); {used}"
            )
        best = {shared: min(t) for shared, t in timings.items()}
        print(
            f"rebuild shared/own reads, best of {REBUILD_ROUNDS} each:"
            f" {total / best[True]:,.0f} vs {total / best[False]:,.0f} notifications/s ="
            f" {best[False] / best[True]:.2f}x"
        )

        prefix_url = pg.url("prefix")
        asyncio.run(ensure_database(prefix_url))
        stop = min(PEER_EVENTS, feed)
        ours_s = asyncio.run(
            run_ours(
                settings.model_copy(update={"postgres_url": prefix_url}),
                prefix_url,
                ["fixtures", "odds"],
                stop,
            )
        )
        print(
            f"ratio_ours fixtures+odds over notifications 1..{stop}: {ours_s:.1f} s ="
            f" {stop / ours_s:,.0f}/s ({load()})"
        )
        peer_s = run_peer(env, prefix_url, pg, "prefix", stop)
        print(
            f"ratio_peer eventsourcing ProjectionRunner, same: {peer_s:.1f} s ="
            f" {stop / peer_s:,.0f}/s ({load()})"
        )
        equal, counts = asyncio.run(same_rows(prefix_url))
        print(f"ratio_rows_equal {equal} {counts}")
        print(f"ratio ours/peer {peer_s / ours_s:.2f}x (target >= 2)")

        for run, shared in enumerate([False, True] * LAG_ROUNDS):
            lag_url = pg.url(f"lag{run}")
            asyncio.run(ensure_database(lag_url))
            lags, rate = lag_phase(nats.url, lag_url, share_reads=shared)
            if lags:
                ms = np.array(lags) * 1000
                how = "shared reads" if shared else "own reads"
                print(
                    f"lag ({how}) append->committed row over {len(ms)} notifications at"
                    f" {rate:,.0f}/s offered: p50 {np.percentile(ms, 50):.1f} ms"
                    f" p99 {np.percentile(ms, 99):.1f} ms max {ms.max():.1f} ms"
                    f" (target p99 < 100) ({load()})"
                )


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
