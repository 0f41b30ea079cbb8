"""``sportcast model ...``: train from the event store, list, promote, evaluate (docs/adr/0008)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from nats.aio.client import Client as NATS
from rich.markup import escape
from rich.table import Table

from commands.ingestion import FeedIngestion
from commands.model_registry import ModelRegistry
from domain.errors import DomainError
from domain.model_registry import (
    FOOTBALL_1X2,
    FOOTBALL_INPLAY,
    KINDS,
    Champion,
    TrainedModel,
    check_kind,
)
from infra.bootstrap import feed_ingestion, model_registry
from infra.cli_console import console, print_json
from infra.cli_progress import working
from infra.connections import connect_nats
from infra.forecasting import lifecycle, nba_history
from infra.forecasting.artifacts import DEFAULT_BUCKET, ArtifactError, ArtifactStore
from infra.forecasting.history import position_before
from infra.forecasting.inplay_history import train_to_file
from infra.forecasting.kinds import PARAMETERS, FootballKind
from infra.forecasting.model_file import INPLAY_FORMAT
from infra.forecasting.nba_model_file import NBA_FORMAT
from infra.settings import Settings

app = typer.Typer(
    help="Models of every kind (football 1X2, NBA, in-play football): train into the registry, "
    "list, promote, evaluate; or train the in-play and NBA models to a file.",
    no_args_is_help=True,
)
out = console()

CutoffPosition = Annotated[
    int | None,
    typer.Option(help="Train on feed notifications 1..N (default: everything stored now)."),
]


def _out_option(artifact: str, setting: str) -> Any:
    return typer.Option(
        "--out",
        help=f"Where to write the artifact ({artifact}); point {setting} at it. "
        "Written atomically.",
    )


err = console(stderr=True)
T = TypeVar("T")

RegistryStream = Annotated[
    str,
    typer.Option(envvar="SPORTCAST_MODEL_REGISTRY_STREAM", help="The registry's event stream."),
]
Bucket = Annotated[
    str, typer.Option(envvar="SPORTCAST_MODEL_BUCKET", help="Object store bucket of artifacts.")
]
DEFAULT_REGISTRY_STREAM = "SPORTCAST_MODEL_REGISTRY"


@dataclass
class Lifecycle:
    feeds: FeedIngestion
    registry: ModelRegistry
    artifacts: ArtifactStore


def fail(code: str, message: str) -> typer.Exit:
    err.print(f"[bold red]error[/] {escape(f'[{code}]')} {escape(message)}")
    return typer.Exit(2)


async def _connect(url: str) -> NATS:
    try:
        return await asyncio.wait_for(connect_nats(url, name="sportcast-model"), 10)
    except (OSError, TimeoutError) as exc:
        raise fail(
            "nats-unreachable",
            f"cannot reach NATS at {url} ({exc!r}). Start the stack with `sportcast up`, "
            "or set SPORTCAST_NATS_URL.",
        ) from None


@asynccontextmanager
async def _open(registry_stream: str, bucket: str) -> AsyncIterator[Lifecycle]:
    settings = Settings()
    url = settings.nats_client_url
    nc = await _connect(url)
    feeds = await asyncio.to_thread(feed_ingestion, settings, url)
    registry = await asyncio.to_thread(model_registry, settings, url, registry_stream)
    try:
        yield Lifecycle(
            feeds,
            registry,
            ArtifactStore(nc.jetstream(), bucket=bucket, replicas=settings.stream_replicas),
        )
    finally:
        await asyncio.to_thread(registry.close)
        await asyncio.to_thread(feeds.close)
        await nc.drain()


def _run(registry_stream: str, bucket: str, work: Callable[[Lifecycle], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _open(registry_stream, bucket) as lc:
            try:
                return await work(lc)
            except DomainError as exc:
                raise fail(exc.code, str(exc)) from None
            except ArtifactError as exc:
                raise fail(exc.code, str(exc)) from None
            except ValueError as exc:
                raise fail("model-input", str(exc)) from None

    return asyncio.run(main())


Until = Annotated[
    datetime | None,
    typer.Option(
        formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"],
        help="Train on the log as of this date (UTC unless an offset is given): everything "
        "stored before the first match that started at or after it. Not with "
        "--cutoff-position.",
    ),
]


def _cutoff(feeds: FeedIngestion, position: int | None, until: datetime | None) -> int | None:
    if until is None:
        return position
    if position is not None:
        raise fail("model-input", "give --until or --cutoff-position, not both")
    moment = until if until.tzinfo is not None else until.replace(tzinfo=UTC)
    return position_before(feeds, moment)


@app.command()
def train(
    cutoff_position: CutoffPosition = None,
    until: Until = None,
    kind: Annotated[
        str,
        typer.Option(
            help=f"What to train: {', '.join(KINDS)}. football-1x2 holds out its last season "
            "(or --holdout-season); nba holds out its last season; football-inplay holds out "
            "the latest 20% of its matches."
        ),
    ] = FOOTBALL_1X2,
    holdout_season: Annotated[
        str | None,
        typer.Option(help="football-1x2 only: season scored out of sample (default: the last)."),
    ] = None,
    registry_stream: RegistryStream = DEFAULT_REGISTRY_STREAM,
    bucket: Bucket = DEFAULT_BUCKET,
) -> None:
    """Train a model leaving out a holdout, score the holdout, store and register the model."""
    try:
        check_kind(kind)
    except DomainError as unknown:
        raise fail(unknown.code, str(unknown)) from None
    if holdout_season is not None and kind != FOOTBALL_1X2:
        raise fail("model-input", "--holdout-season applies to football-1x2 only")
    trainer = lifecycle.KINDS[kind]
    if holdout_season is not None:
        trainer = FootballKind(PARAMETERS, holdout_season=holdout_season)

    async def work(lc: Lifecycle) -> TrainedModel:
        cutoff = await asyncio.to_thread(_cutoff, lc.feeds, cutoff_position, until)
        return await lifecycle.train_and_register(
            lc.feeds, lc.registry, lc.artifacts, kind=trainer, cutoff=cutoff
        )

    with working(f"training {kind}", console=err):
        model = _run(registry_stream, bucket, work)
    out.print(f"[bold green]registered[/] {model.model_id}")
    out.print(f"  artifact   sha256:{model.artifact_hash}")
    out.print(f"  cut-off    position {model.cutoff_position}")
    out.print(f"  data       {model.seasons[0]} .. {model.seasons[-1]}")
    out.print(f"  holdout    {model.holdout_season}: {_scores(model)}")
    if model.refit:
        out.print(f"  scored     sha256:{model.scored_artifact_hash} (the holdout's model)")
        out.print(f"  deployed   refitted on every season up to the cut-off: {model.refit}")
    out.print(f"  training   {model.training_seconds:.1f} s")


def _scores(model: TrainedModel) -> str:
    """The holdout metrics, the promotion metric first."""
    m = model.holdout_metrics
    first = f"{model.metric} {m[model.metric]:.5f}"
    rest = [f"{k} {v:.5g}" for k, v in sorted(m.items()) if k != model.metric]
    return ", ".join([first, *rest])


@app.command("list")
def list_models(
    registry_stream: RegistryStream = DEFAULT_REGISTRY_STREAM,
    bucket: Bucket = DEFAULT_BUCKET,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document: every model's record.")
    ] = False,
) -> None:
    """Every registered model, oldest first; each kind's champion is starred."""

    async def work(lc: Lifecycle) -> tuple[list[TrainedModel], set[str]]:
        def read() -> tuple[list[TrainedModel], set[str]]:
            ids = [
                e.model_id
                for e in lc.registry.history()
                if isinstance(e, TrainedModel.ModelTrained)
            ]
            champions = [lc.registry.champion(k) for k in KINDS]
            chosen = {c.model_id for c in champions if c is not None and c.model_id}
            return [lc.registry.model(i) for i in ids], chosen

        return await asyncio.to_thread(read)

    models, champions = _run(registry_stream, bucket, work)
    if as_json:
        print_json([_record(m, m.model_id in champions) for m in models])
        return
    table = Table("")
    table.add_column("model", no_wrap=True, min_width=len(f"{FOOTBALL_INPLAY}-") + 12)
    for heading in ("trained", "cut-off", "holdout", "metric", "score", "ECE"):
        table.add_column(heading)
    for m in models:
        h = m.holdout_metrics
        ece = h.get("ece", h.get("ece_pregame"))
        table.add_row(
            "*" if m.model_id in champions else "",
            m.model_id,
            m.created_on.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            str(m.cutoff_position),
            m.holdout_season,
            m.metric,
            f"{m.holdout_score:.5f}",
            "" if ece is None else f"{ece:.4f}",
        )
    out.print(table)


def _record(m: TrainedModel, champion: bool) -> dict[str, object]:
    return {
        "model_id": m.model_id,
        "kind": m.kind,
        "champion": champion,
        "trained": m.created_on.astimezone(UTC).isoformat(),
        "artifact_hash": m.artifact_hash,
        "scored_artifact_hash": m.scored_artifact_hash,
        "refit": m.refit,
        "cutoff_position": m.cutoff_position,
        "seasons": m.seasons,
        "holdout_season": m.holdout_season,
        "metric": m.metric,
        "holdout_score": m.holdout_score,
        "holdout_metrics": m.holdout_metrics,
        "hyperparameters": m.hyperparameters,
    }


@app.command()
def promote(
    model_id: Annotated[str, typer.Argument(help="The model to make champion.")],
    registry_stream: RegistryStream = DEFAULT_REGISTRY_STREAM,
    bucket: Bucket = DEFAULT_BUCKET,
) -> None:
    """Make a model the champion of its kind, unless it is worse than that champion on the
    candidate's holdout (the champion is re-scored on it when their holdouts differ)."""

    async def work(lc: Lifecycle) -> Champion:
        return await lifecycle.promote(lc.feeds, lc.registry, lc.artifacts, model_id)

    champion = _run(registry_stream, bucket, work)
    out.print(
        f"[bold green]{champion.kind} champion[/] {champion.model_id} "
        f"(holdout {champion.metric} {champion.holdout_score})"
    )


@app.command()
def evaluate(
    seasons: Annotated[
        str, typer.Option(help="Comma-separated seasons to forecast, each trained on earlier ones.")
    ] = ",".join(lifecycle.EVALUATED),
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Report directory (default reports/evaluation-<timestamp>/)."),
    ] = None,
    cutoff_position: Annotated[
        int | None, typer.Option(help="Use feed notifications 1..N (default: all).")
    ] = None,
    resamples: Annotated[int, typer.Option(help="Paired bootstrap resamples.")] = 1000,
    registry_stream: RegistryStream = DEFAULT_REGISTRY_STREAM,
    bucket: Bucket = DEFAULT_BUCKET,
) -> None:
    """Walk-forward evaluation from the event store against the opening and closing markets."""
    target = out_dir or Path("reports") / (
        "evaluation-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    )
    wanted = [s.strip() for s in seasons.split(",") if s.strip()]

    async def work(lc: Lifecycle) -> list[Path]:
        return await lifecycle.evaluate(
            lc.feeds, target, seasons=wanted, cutoff=cutoff_position, resamples=resamples
        )

    with working(f"walk-forward evaluation of {', '.join(wanted)}", console=err):
        paths = _run(registry_stream, bucket, work)
    for path in paths:
        out.print(f"wrote {path}")


@app.command(
    "train-inplay",
    help=(
        "Train the in-play football model from the event store (never the CSVs) and write it "
        "to --out for SPORTCAST_INPLAY_MODEL_FILE.\n\n"
        "Every finished football fixture gives match states: at minutes 0, 15, .., 85 where "
        "the feed records goals and cards (e.g. World Cup replays), at half-time elsewhere "
        "(league replays). The prior is the last pre-match 1X2 quote, margin-free, or without "
        "odds an Elo prior from earlier results of the same competition. The latest 20% of "
        "fixtures of each prior kind (odds, Elo) size and calibrate the model, which is then "
        "refitted on all "
        "(the recipe of benchmarks/eval_inplay.py, fixed seed)."
    ),
)
def train_inplay(
    out_path: Annotated[Path, _out_option(INPLAY_FORMAT, "SPORTCAST_INPLAY_MODEL_FILE")],
    cutoff_position: CutoffPosition = None,
) -> None:
    """Train the in-play football model from the event store and write it to a file."""

    artifact = _train_to_file(
        lambda feeds: train_to_file(feeds, out_path, cutoff=cutoff_position), out_path
    )
    run, data = artifact.training, artifact.training.data
    ll = run.holdout_log_loss
    out.print(f"[bold green]wrote[/] {artifact.path} ({artifact.size} bytes)")
    out.print(f"  cut-off    position {artifact.cutoff_position}")
    out.print(
        f"  matches    {data.matches} ({data.skipped} finished fixtures gave no state), "
        f"Elo draw peak {data.draw_peak:.3f}, logit scale {data.elo_scale:.2f}"
    )
    out.print(f"  rows       {run.training_rows} training, {run.holdout_rows} holdout")
    out.print(
        f"  model      {run.model.trees} trees, temperature {run.model.calibration.temperature:.3f}"
    )
    out.print(f"  training   {run.seconds:.1f} s")
    out.print(
        f"  holdout    log loss {ll['model']:.4f} (prior {ll['prior']:.4f}, Poisson baseline "
        f"{ll['poisson']:.4f}); the refit saw these matches, so not out of sample"
    )


_Artifact = TypeVar("_Artifact")


def _train_to_file(train: Callable[[FeedIngestion], _Artifact], out_path: Path) -> _Artifact:
    """Run ``train`` on the feed's event store (NATS checked first); its input and write errors
    become CLI errors with stable codes."""

    async def main() -> _Artifact:
        settings = Settings()
        url = settings.nats_client_url
        await (await _connect(url)).close()  # fail early and clearly if NATS is not there
        feeds = await asyncio.to_thread(feed_ingestion, settings, url)
        try:
            with working(f"training {out_path.name}", console=err):
                artifact = await asyncio.to_thread(train, feeds)
        except ValueError as exc:
            raise fail("model-input", str(exc)) from None
        except OSError as exc:
            raise fail("artifact-write", f"cannot write {out_path}: {exc}") from None
        finally:
            await asyncio.to_thread(feeds.close)
        # The object store keeps the artifact under its hash, where an auditor fetches it.
        data = await asyncio.to_thread(out_path.read_bytes)
        nc = await _connect(url)
        try:
            store = ArtifactStore(
                nc.jetstream(), bucket=settings.model_bucket, replicas=settings.stream_replicas
            )
            stored = await store.put(data)
        finally:
            await nc.close()
        out.print(f"stored artifact {stored} in object store bucket {settings.model_bucket}")
        return artifact

    return asyncio.run(main())


@app.command(
    "train-nba",
    help=(
        "Train the NBA pre-game and in-play models from the event store (never the CSVs) and "
        "write them as one file for SPORTCAST_NBA_MODEL_FILE.\n\n"
        "The rows are what the live forecaster builds (forecasting/nba/live.py): each "
        "finished game with a moneyline gives its features as of its last pre-game quote and "
        "its state after quarters 1-3. The pre-game model is sized by walk-forward validation "
        "over the last three seasons (zero trees, the market itself, is a candidate); the "
        "in-play model is one logistic fit per quarter. Needs at least four NBA seasons."
    ),
)
def train_nba(
    out_path: Annotated[Path, _out_option(NBA_FORMAT, "SPORTCAST_NBA_MODEL_FILE")],
    cutoff_position: CutoffPosition = None,
) -> None:
    """Train the NBA models from the event store and write them to a file."""
    artifact = _train_to_file(
        lambda feeds: nba_history.train_to_file(feeds, out_path, cutoff=cutoff_position),
        out_path,
    )
    data, pregame = artifact.training.training, artifact.training.pregame
    out.print(f"[bold green]wrote[/] {artifact.path} ({artifact.size} bytes)")
    out.print(f"  cut-off    position {artifact.cutoff_position}")
    out.print(
        f"  games      {data.games} with a pre-game quote in {len(data.seasons)} seasons "
        f"({data.games_without_quote} finished without one)"
    )
    out.print(
        f"  pre-game   {pregame.trees} trees, validation log-loss gain over the line "
        f"{pregame.validation_gain:.5f}"
    )
    out.print(f"  in-play    {len(data.states)} quarter states")
    out.print(f"  training   {artifact.seconds:.1f} s")
