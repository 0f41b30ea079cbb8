"""The self-contained demo `sportcast up` plays: a simulated league (its live season in
infra/demo_season.py), and a champion model for it, trained once from simulated past seasons and
cached in the registry: the first start trains it, later starts find it in the registry and the
object store (ADR 0008).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from commands.api_keys import parse_key
from commands.ingestion import FeedIngestion
from commands.model_registry import ModelRegistry
from domain.access import Limits, Plan, Scope
from domain.model_registry import FOOTBALL_1X2, FOOTBALL_INPLAY, ChallengerWorse, TrainedModel
from infra.access.keystore import PostgresKeyStore, ensure_schema
from infra.connections import create_pool
from infra.demo_season import LEAGUE_SEED
from infra.feeds.messages import FeedMessage
from infra.feeds.player import BulkIntake, FeedPlayer
from infra.feeds.simulated import simulated_messages
from infra.feeds.simulator import SeasonSimulator
from infra.forecasting.artifacts import ArtifactStore
from infra.forecasting.lifecycle import KINDS, promote, registry_env, train_and_register

log = logging.getLogger("sportcast.demo")

HISTORY_SEASONS = 4  # fit on the first two, calibrate on the third, hold out the last
DEMO_KINDS = (FOOTBALL_1X2, FOOTBALL_INPLAY)
_WEEKS_PER_SEASON = 40


def history_messages(now: datetime) -> Iterator[FeedMessage]:
    """The demo league's past seasons, oldest first, each ending before the next begins."""
    for back in range(HISTORY_SEASONS, 0, -1):
        start = now - timedelta(weeks=_WEEKS_PER_SEASON * back + 2)
        first_year = start.year
        simulator = SeasonSimulator(
            seed=LEAGUE_SEED,
            season=f"{first_year}-{first_year + 1} (history {HISTORY_SEASONS - back + 1})",
            start=start,
            match_seed=LEAGUE_SEED * 1000 + back,
        )
        yield from simulated_messages(simulator)


HISTORY_MARK = "(history "  # in the season labels of the demo league's past seasons


def trained_on_the_demo_league(model: TrainedModel) -> bool:
    return bool(model.seasons) and all(HISTORY_MARK in season for season in model.seasons)


@dataclass(frozen=True)
class ChampionSource:
    """What a demo feed's champions are trained from, and which champions already serve it."""

    kinds: tuple[str, ...]
    history: Callable[[], list[FeedMessage]]
    """The past seasons, oldest first (blocking: it may read the datasets)."""
    player_source: str
    serves: Callable[[TrainedModel], bool]
    """Whether a champion in the registry already fits this feed (then it is kept)."""


def simulated_league_champions() -> ChampionSource:
    return ChampionSource(
        kinds=DEMO_KINDS,
        history=lambda: list(history_messages(datetime.now(UTC))),
        player_source="simulator-history",
        serves=trained_on_the_demo_league,
    )


async def ensure_champions(
    history: BulkIntake,
    feeds_env: dict[str, str],
    registry_stream: str,
    artifacts: ArtifactStore,
    source: ChampionSource,
) -> dict[str, str]:
    """The demo feed's champion per kind: trained from its past seasons on the first start,
    found in the registry afterwards.

    ``history`` and ``feeds_env`` are the past seasons' own stream, not the live feed's: the
    forecaster following the live feed then has no past seasons to work through before the
    demo's first live forecast."""
    registry = await asyncio.to_thread(ModelRegistry, registry_env(feeds_env, registry_stream))
    try:
        found = {}
        for kind in source.kinds:
            champion = await asyncio.to_thread(registry.champion, kind)
            if champion is not None and champion.model_id:
                model = await asyncio.to_thread(registry.model, champion.model_id)
                if source.serves(model):
                    found[kind] = champion.model_id
        if len(found) == len(source.kinds):
            return found
        started = time.perf_counter()
        messages = await asyncio.to_thread(source.history)
        report = await FeedPlayer(history, source=source.player_source, lanes=16).play(messages)
        log.info("demo history: %s events stored", report.events_stored)
        feeds = await asyncio.to_thread(FeedIngestion, feeds_env)
        try:
            for kind in source.kinds:
                if kind in found:
                    continue
                trained = await train_and_register(feeds, registry, artifacts, kind=KINDS[kind])
                try:
                    await promote(feeds, registry, artifacts, trained.model_id)
                except ChallengerWorse as worse:  # the champion in place forecasts
                    log.warning("demo: %s not promoted: %s", trained.model_id, worse)
                found[kind] = trained.model_id
                log.info(
                    "demo champion %s after %.1f s", trained.model_id, time.perf_counter() - started
                )
        finally:
            await asyncio.to_thread(feeds.close)
        return found
    finally:
        await asyncio.to_thread(registry.close)


async def demo_key(postgres_url: str, path: Path) -> str:
    """The dashboard's read key for this data directory: made on the first start (scope
    forecasts:read, every sport and competition), kept in ``path`` (0600) and reused
    afterwards unless revoked (`sportcast keys revoke`)."""
    pool = await create_pool(postgres_url, max_size=2)
    try:
        await ensure_schema(pool)
        store = PostgresKeyStore(pool)
        kept = await asyncio.to_thread(_read_key, path)
        if kept is not None:
            presented = parse_key(kept)
            record = None if presented is None else await store.find(presented.short)
            if record is not None and record.revoked_at is None:
                return kept
        new, _ = await store.create(
            name="demo dashboard (sportcast up)",
            scopes={Scope.FORECASTS_READ},
            plan=Plan.parse(["*"]),
            limits=Limits(requests_per_minute=6000, connections=20),
        )
        await asyncio.to_thread(_keep_key, path, new.token)
        return new.token
    finally:
        await pool.close()


def _read_key(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def _keep_key(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(token)
