"""``sportcast feed ...``: replay the datasets, run the simulator, inspect the quarantine."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar
from uuid import UUID

import typer
from nats.aio.client import Client as NATS
from pydantic import ValidationError
from rich.table import Table

from commands.fixture import GrantFixtureWriter
from commands.ingestion import FeedCommand
from domain.errors import DomainError
from domain.odds import MarginMethod
from domain.provenance import Provenance
from infra import cli_health
from infra.bootstrap import feed_payload_decoder, open_intake
from infra.cli_console import console, print_json
from infra.cli_progress import counting
from infra.connections import any_server_listening, connect_nats
from infra.feeds.intake import JetStreamFeedIntake
from infra.feeds.parallel import ReplayShare, WorkerFailed, play_in_parallel, share_out
from infra.feeds.player import FeedPlayer, PlayReport
from infra.feeds.quarantine import HeldPayload
from infra.feeds.replay import Replay
from infra.feeds.simulated import simulated_messages
from infra.feeds.simulator import SeasonSimulator
from infra.settings import Settings

app = typer.Typer(help="Feeds: dataset replay, the demo simulator, the quarantine.")
quarantine_app = typer.Typer(help="Refused feed payloads, kept with their reason.")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(cli_health.app, name="health")
out = console()
err = console(stderr=True)
T = TypeVar("T")


def run_with_intake(work: Callable[[JetStreamFeedIntake], Awaitable[T]], *, workers: int = 32) -> T:
    settings = Settings()
    url = settings.nats_client_url

    async def main() -> T:
        try:
            if not await any_server_listening(url):
                raise ConnectionRefusedError("no server listening")
            nc: NATS = await asyncio.wait_for(connect_nats(url, name="sportcast-cli"), 10)
        except (OSError, TimeoutError) as exc:
            err.print(
                f"[bold red]error[/] \\[nats-unreachable] cannot reach NATS at {url} ({exc}). "
                "Start the stack with `sportcast up`, or set SPORTCAST_NATS_URL.",
                soft_wrap=True,  # one line, however narrow the terminal
            )
            raise typer.Exit(2) from None
        try:
            async with open_intake(settings, url, nc, workers=workers) as intake:
                return await work(intake)
        finally:
            await nc.drain()

    return asyncio.run(main())


def print_report(report: PlayReport) -> None:
    out.print(
        f"messages {report.messages:,}  accepted {report.accepted:,}  "
        f"duplicates {report.duplicates:,}  refused {sum(report.refused.values()):,} "
        f"(from {len(report.refused_origins):,} source rows)  "
        f"events stored {report.events_stored:,}"
    )
    for code, count in report.refused.most_common():
        out.print(f"  refused \\[{code}]: {count:,}")
    if report.retries:
        out.print(
            f"  {report.retries:,} runs submitted again after the event store did not answer in "
            "time (what it had stored counts as duplicates)"
        )
    out.print(f"{report.seconds:.1f} s, {report.events_per_second:,.0f} events/s")


@app.command()
def replay(
    source: Annotated[str, typer.Option(help="football, nba or worldcup.")] = "football",
    from_: Annotated[
        datetime | None, typer.Option("--from", help="First kick-off date (inclusive).")
    ] = None,
    to: Annotated[datetime | None, typer.Option(help="Last kick-off date (inclusive).")] = None,
    speed: Annotated[
        float | None,
        typer.Option(help="Times real speed (event time); omit to play as fast as possible."),
    ] = None,
    margin_method: Annotated[MarginMethod, typer.Option()] = MarginMethod.PROPORTIONAL,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes, each with whole competitions (4 keep both cores of a 2-core box "
            "busy). Each competition stays in event order; competitions are not ordered among "
            "themselves.",
        ),
    ] = 1,
    lanes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Fixtures played side by side per process; 1 stores in exact event order.",
        ),
    ] = 1,
    run: Annotated[
        int, typer.Option(min=1, help="Messages applied in one atomic save, at most.")
    ] = 300,
) -> None:
    """Play a dataset from SPORTCAST_DATA_DIR as a live feed into the event store.

    Every message has a stable idempotency key, so replaying twice adds no events. Refused
    messages (e.g. impossible prices) go to the quarantine with the raw CSV row and the reason.
    """
    settings = Settings()
    if not settings.data_dir.exists():
        err.print(f"[bold red]error[/] \\[data-dir-missing] no datasets at {settings.data_dir}")
        raise typer.Exit(2)
    if workers > 1 and speed is not None:
        err.print(
            "[bold red]error[/] \\[speed-with-workers] --speed paces one process's clock; "
            "use --workers 1 with it"
        )
        raise typer.Exit(2)
    player_source = f"replay-{source}"
    replayer = Replay(
        settings.data_dir,
        margin_method=margin_method,
        since=from_.date() if from_ else None,
        until=to.date() if to else None,
    )
    try:
        if workers > 1:
            shares = share_out(replayer.groups(source), workers)
        else:
            messages = replayer.messages(source)
    except ValueError as exc:
        err.print(f"[bold red]error[/] \\[unknown-source] {exc}")
        raise typer.Exit(2) from None
    if workers > 1:
        report = _replay_in_workers(replayer, source, shares, settings, lanes, run)
    else:
        with counting(f"replaying {source}", total=len(messages), console=err) as done:
            report = run_with_intake(
                lambda intake: FeedPlayer(
                    intake,
                    source=player_source,
                    lanes=lanes,
                    run=run,
                    speed=speed,
                    on_progress=lambda r: done(r.handled),
                ).play(messages),
                workers=lanes,
            )
    print_report(report)
    if replayer.malformed:
        out.print(f"unreadable rows: {len(replayer.malformed)}")


async def _nothing(_: JetStreamFeedIntake) -> None:
    return None


def _replay_in_workers(
    replayer: Replay,
    source: str,
    shares: list[tuple[str, ...]],
    settings: Settings,
    lanes: int,
    run: int,
) -> PlayReport:
    url = settings.nats_client_url
    run_with_intake(_nothing, workers=1)  # NATS is reachable and the streams exist
    err.print(
        f"replaying {source} with {len(shares)} workers: " + " | ".join(map(",".join, shares))
    )
    template = ReplayShare(
        settings=settings,
        nats_url=url,
        data_dir=replayer.data_dir,
        source=source,
        since=replayer.since,
        until=replayer.until,
        margin_method=replayer.margin_method,
        player_source=f"replay-{source}",
        lanes=lanes,
        run=run,
    )
    try:
        with counting(f"replaying {source}", total=None, console=err) as done:
            report, _ = play_in_parallel(template, shares, on_progress=done)
    except WorkerFailed as exc:
        err.print(f"[bold red]error[/] \\[replay-worker-failed] {exc}")
        raise typer.Exit(1) from None
    return report


@app.command()
def simulate(
    seed: Annotated[int, typer.Option(help="Same seed, same season.")] = 7,
    teams: Annotated[int, typer.Option(min=2, max=20)] = 20,
    speed: Annotated[
        float | None, typer.Option(help="Times real speed; omit to play as fast as possible.")
    ] = None,
) -> None:
    """Play a simulated season (no dataset needed): fixtures, moving odds, goals, cards."""
    messages = list(simulated_messages(SeasonSimulator(seed=seed, teams=teams)))
    err.print(f"simulating {len(messages):,} messages")
    report = run_with_intake(
        lambda intake: FeedPlayer(intake, source="simulator", speed=speed).play(messages)
    )
    print_report(report)


@app.command()
def grant(
    fixture: Annotated[UUID, typer.Argument(help="The fixture's id.")],
    provider: Annotated[str, typer.Argument(help="The feed provider to let write it.")],
) -> None:
    """Let another feed provider write a fixture (start it, score it, correct its result).

    A fixture is written only by the provider that scheduled it and those granted here; the
    grant is an event on the fixture, made with the source "admin"."""
    command = GrantFixtureWriter(
        idempotency_key=f"admin:grant:{fixture}:{provider}",
        provenance=Provenance(source="admin", received_at=datetime.now(UTC)),
        fixture_id=fixture,
        provider=provider,
    )
    try:
        accepted = run_with_intake(lambda intake: intake.submit(command))
    except DomainError as refused:
        err.print(f"[bold red]error[/] \\[{refused.code}] {refused}", soft_wrap=True)
        raise typer.Exit(2) from None
    note = " (already granted)" if accepted.duplicate else ""
    out.print(f"{provider} may now write fixture {fixture}{note}", markup=False)


@quarantine_app.command("list")
def quarantine_list(
    source: Annotated[str | None, typer.Option(help="Only this feed source.")] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many (the oldest).")] = 100,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON document: {total, shown, held: [...]}.")
    ] = False,
) -> None:
    """Held payloads, oldest first, with the reason and the latest retry outcome, and how many
    are held in all (not only the ones shown)."""

    async def work(intake: JetStreamFeedIntake) -> tuple[list[HeldPayload], int]:
        store = intake.quarantine_store
        return await store.list(source=source, limit=limit), await store.count(source=source)

    held, total = run_with_intake(work)
    if as_json:
        rows = [
            {
                "seq": h.seq,
                "source": h.source,
                "kind": h.kind,
                "code": h.reason_code,
                "origin": h.origin,
                "resolution": h.resolution,
            }
            for h in held
        ]
        print_json({"total": total, "shown": len(held), "held": rows})
        return
    table = Table("seq", "source", "kind", "code", "origin", "resolution")
    for h in held:
        table.add_row(str(h.seq), h.source, h.kind, h.reason_code, h.origin, h.resolution or "")
    out.print(table)
    shown = "" if len(held) == total else f" ({len(held)} shown; --limit for more)"
    out.print(f"{total} held{shown}")


@quarantine_app.command("show")
def quarantine_show(seq: Annotated[int, typer.Argument(help="The quarantine sequence.")]) -> None:
    """One held payload: its reason, where it came from and its raw bytes."""

    async def work(intake: JetStreamFeedIntake) -> HeldPayload:
        return await intake.quarantine_store.show(seq)

    try:
        h = run_with_intake(work)
    except LookupError as exc:
        err.print(f"[bold red]error[/] \\[not-in-quarantine] {exc}")
        raise typer.Exit(2) from None
    out.print_json(
        json.dumps(
            {
                "seq": h.seq,
                "source": h.source,
                "kind": h.kind,
                "reason_code": h.reason_code,
                "reason": h.reason,
                "origin": h.origin,
                "key": h.key,
                "received_at": h.received_at,
                "resolution": h.resolution,
                "raw": h.raw.decode("utf-8", errors="replace"),
            }
        )
    )


@quarantine_app.command("retry")
def quarantine_retry(seq: Annotated[int, typer.Argument(help="The quarantine sequence.")]) -> None:
    """Re-submit a held payload (e.g. after the fixture it needed arrived). The outcome is
    recorded beside it; the held payload itself is never removed."""
    settings = Settings()

    async def work(intake: JetStreamFeedIntake) -> str:
        held = await intake.quarantine_store.show(seq)
        try:
            command = _rebuild(held, settings)
            accepted = await intake.submit(command)
            outcome = (
                f"accepted: {accepted.aggregate_id} "
                f"v{accepted.from_version}-{accepted.to_version}"
                + (" (duplicate)" if accepted.duplicate else "")
            )
        except (DomainError, ValidationError, LookupError) as exc:
            code = getattr(exc, "code", "validation-error")
            outcome = f"refused again [{code}]: {exc}"
        await intake.quarantine_store.resolve(seq, outcome)
        return outcome

    try:
        out.print(run_with_intake(work), markup=False)
    except LookupError as exc:
        err.print(f"[bold red]error[/] \\[not-in-quarantine] {exc}")
        raise typer.Exit(2) from None


def _rebuild(held: HeldPayload, settings: Settings) -> FeedCommand:
    provenance = Provenance(
        source=held.source, received_at=datetime.now(UTC), source_event_id=held.key or None
    )
    if ".csv:" in held.origin:
        source = held.source.removeprefix("replay-")
        for message in Replay(settings.data_dir).messages(source):
            if message.key == held.key:
                return message.build(message.key, provenance)
        raise LookupError(f"no replay message with key {held.key!r} in the current dataset")
    decode = feed_payload_decoder()
    return decode(held.kind, held.raw, key=held.key, provenance=provenance, source=held.source)
