"""The public track record agrees with `sportcast model evaluate` for the same model and fixtures.

1. Football from BENCH_FROM (default 2019-07-01) to the end of the dataset is replayed into a
   fresh event store (embedded nats-server and PostgreSQL).
2. What `sportcast model evaluate --seasons S` computes (infra/forecasting/lifecycle.evaluate:
   the history read from the store, ``walk_forward`` trains on the seasons before S, forecasts
   S's matches that have a closing price) is run for S = BENCH_SEASON (default 2022-2023); its
   RPS is the evaluation report's model RPS.
3. The same trained model is given to the forecaster, which follows the stored feed and issues
   ForecastIssued events (at odds-open, odds moves and close); the projector builds the track
   record from them.
4. The track record's mean RPS of that model's odds-open forecasts (the evaluation's features
   are as of odds-open) on the same fixtures is compared with the evaluation's, to 4 decimals.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import asyncpg
import numpy as np

from benchmarks.bench_projections import embedded_stack, head, load, replay
from commands.ingestion import FeedIngestion
from forecasting.football.evaluation import ScoreCard, train_before, walk_forward
from forecasting.football.training_set import features, outcomes
from infra.bootstrap import event_store_env
from infra.connections import ensure_database
from infra.forecasting.history import read_history
from infra.forecasting.kinds import PARAMETERS
from infra.forecasting.model_file import LoadedModel, dump_model
from infra.forecasting.service import ForecasterService
from infra.projections.wiring import running_projector
from infra.settings import Settings
from readmodels.postgres.queries import track_record

SEASON = os.environ.get("BENCH_SEASON", "2022-2023")
os.environ.setdefault("BENCH_FROM", "2019-07-01")
FEED, FORECASTS = "EVAL_FEED", "EVAL_FORECASTS"


async def project(settings: Settings, postgres_url: str) -> None:
    async with running_projector(
        settings, settings.nats_client_url, postgres_url, names=["track_record"]
    ) as runner:
        if not await runner.caught_up(3600):
            raise RuntimeError(f"the projector did not catch up: {runner.status()}")


async def track_record_rps(
    postgres_url: str, model_id: str, fixtures: list[str]
) -> tuple[float, int]:
    conn = await asyncpg.connect(postgres_url)
    try:
        row = await conn.fetchrow(
            "SELECT avg(rps) AS rps, count(*)::int AS n FROM rm_track_record.settled_forecasts"
            " WHERE model_id = $1 AND track = 'odds-open' AND outcome IS NOT NULL"
            " AND fixture_id = ANY($2::uuid[])",
            model_id,
            fixtures,
        )
        public = await track_record(conn, model_id=model_id, season=SEASON, track="odds-open")
        for r in public:
            print(
                f"  public track record {r.competition} {r.season} {r.track}: {r.forecasts}"
                f" forecasts, rps {r.rps:.4f} (market {r.market_rps:.4f})"
            )
        return float(row["rps"]), int(row["n"])
    finally:
        await conn.close()


def main() -> None:
    with embedded_stack(os.environ.get("BENCH_STORE_DIR")) as (nats, pg):
        settings = Settings(nats_url=nats.url, stream_name=FEED, forecaster_stream=FORECASTS)
        env = event_store_env(settings, nats.url)
        t = time.perf_counter()
        stored = asyncio.run(replay(nats.url, settings))
        print(
            f"replayed {stored} events from {os.environ['BENCH_FROM']}"
            f" in {time.perf_counter() - t:.0f} s"
        )

        feeds = FeedIngestion(env)
        try:
            history = read_history(feeds)
        finally:
            feeds.close()
        (evaluated,) = walk_forward(history.rows, [SEASON], PARAMETERS)
        card = ScoreCard.of(evaluated.probabilities, outcomes(evaluated.rows))
        print(f"model evaluate {SEASON}: {card.n} matches, rps {card.rps:.6f}")

        trained, _ = train_before(history.rows, SEASON, PARAMETERS)
        again = trained.predict_proba(features(evaluated.rows))
        gap = float(np.max(np.abs(again - evaluated.probabilities)))
        print(f"the same model retrained: largest probability difference {gap:.2e}")
        model = LoadedModel.from_bytes(dump_model(trained))
        service = ForecasterService(env, FORECASTS, model)
        service.start()
        target = head(env)
        while service.position < target:
            if service.failure is not None:
                raise RuntimeError(service.failure.describe())
            time.sleep(0.5)
        service.stop()

        url = pg.url("eval")
        asyncio.run(ensure_database(url))
        asyncio.run(project(settings.model_copy(update={"postgres_url": url}), url))
        fixtures = [r.fixture.fixture_id for r in evaluated.rows]
        rps, n = asyncio.run(track_record_rps(url, model.model_id, fixtures))
        print(f"track record, same model and fixtures, odds-open: {n} forecasts, rps {rps:.6f}")
        agree = n == card.n and round(rps, 4) == round(card.rps, 4)
        print(f"agree to 4 decimals: {agree} ({load()})")
        if not agree:
            sys.exit(1)


if __name__ == "__main__":
    main()
