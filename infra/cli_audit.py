"""``sportcast audit ...``: check the log without trusting the running system.

Every command reads either a running stack (``--nats-url``, default the configured one) or a copy
of a JetStream store directory (``--store-dir``). Exit codes: 0 clean, 1 findings, 2 the audit
could not be made (each with a stable code: store-unreachable, unknown-fixture, artifact-missing,
wrong-key, bad-range, unknown-store-format).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from uuid import UUID

import typer
from rich.markup import escape
from rich.table import Table

from infra.audit.errors import AuditError, StoreUnreachable, UnknownFixture, WrongKey
from infra.audit.export_format import ExportFormat
from infra.cli_console import console
from infra.cli_progress import counting

# The rest is imported where used: `audit verify --help` or `--store-dir` need neither the
# forecasting stack nor the composition root (docs/adr/0039).
if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

    from infra.audit.features import FeatureReport
    from infra.audit.rederive import RederivationReport
    from infra.audit.timeline import Timeline
    from infra.eventstore.verify import StreamVerifier, VerificationReport
    from infra.settings import Settings

app = typer.Typer(help="Audit the log: integrity, forecasts re-derived, timelines, exports.")
out = console()
err = console(stderr=True)
T = TypeVar("T")

NatsUrl = Annotated[
    str | None, typer.Option("--nats-url", help="A running stack's NATS (default: settings).")
]
StoreDir = Annotated[
    Path | None,
    typer.Option(
        "--store-dir",
        help="Audit a copy of a JetStream store directory instead (the stack's data dir, its "
        "nats/ dir or the jetstream/ dir): `verify` reads the chain from its message blocks; "
        "what needs a server is served read-only by a private nats-server over a copy.",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


def _fail(error: AuditError) -> typer.Exit:
    err.print(f"[bold red]error[/] {escape(f'[{error.code}]')} {escape(str(error))}")
    return typer.Exit(2)


def _run(url: str | None, store_dir: Path | None, work: Callable[[NATS], Awaitable[T]]) -> T:
    from infra.audit.store import open_log
    from infra.settings import Settings

    settings = Settings()

    async def main() -> T:
        async with open_log(url=url or settings.nats_client_url, store_dir=store_dir) as nc:
            return await work(nc)

    try:
        return asyncio.run(main())
    except AuditError as error:
        raise _fail(error) from None


@contextmanager
def _progress(label: str, total: int | None, *, quiet: bool) -> Iterator[Callable[[int], None]]:
    """The CLI's progress bar (infra/cli_progress.py) on stderr, advanced by pages read."""
    if quiet:
        yield lambda _n: None
        return
    with counting(label, total=total, console=err) as done:
        read = 0

        def advance(n: int) -> None:
            nonlocal read
            read += n
            done(read)

        yield advance


def _streams(settings: Settings, given: list[str] | None) -> list[str]:
    from infra.nats_setup import event_streams

    return given or event_streams(settings)


@app.command()
def verify(
    nats_url: NatsUrl = None,
    store_dir: StoreDir = None,
    stream: Annotated[
        list[str] | None, typer.Option(help="Streams to verify (default: every sportcast stream).")
    ] = None,
    keys_file: Annotated[
        Path | None,
        typer.Option(
            help='Checkpoint signing keys, JSON {"current": id, "keys": {id: hex}}: every '
            "checkpoint must then carry a valid signature (default: none checked)."
        ),
    ] = None,
    witness: Annotated[
        Path | None,
        typer.Option(
            help="The auditor's own record of the last checkpoint seen per stream: the log must "
            "still hold it (catches truncation of the newest events); updated after a clean run."
        ),
    ] = None,
    sealed: Annotated[
        bool, typer.Option(help="Also a finding: events after the last checkpoint.")
    ] = False,
    forecasts: Annotated[
        bool,
        typer.Option(
            help="Re-derive every forecast from its recorded features and model artifact "
            "(fetched by hash); any difference in the probabilities is a finding."
        ),
    ] = True,
    fixture: Annotated[
        list[str] | None, typer.Option(help="Re-derive only this fixture's forecasts (UUID).")
    ] = None,
    competition: Annotated[
        list[str] | None, typer.Option(help="Re-derive only this competition's forecasts.")
    ] = None,
    first: Annotated[
        int, typer.Option("--from", help="Re-derive forecasts from this forecast position.")
    ] = 1,
    last: Annotated[
        int | None, typer.Option("--to", help="... up to this forecast position (inclusive).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Verify the whole log (hash chain, sequences, signed checkpoints) and re-derive forecasts
    bit for bit from their recorded inputs and the stored model artifacts."""
    from infra.audit.checkpointer import read_keys
    from infra.audit.witness import Witness
    from infra.eventstore.subjects import SubjectLayout
    from infra.eventstore.verify import StreamVerifier
    from infra.settings import Settings

    settings = Settings()
    signing_keys = None
    if keys_file is not None:
        try:
            signing_keys = read_keys(keys_file)[1]
        except (OSError, ValueError, KeyError) as error:
            raise _fail(_bad_keys(keys_file, error)) from None
    chain_key = os.environ.get("NATS_CHAIN_KEY", "").encode()
    known = Witness.load(witness) if witness else None
    chosen = _fixture_ids(fixture)
    rederived: list[RederivationReport] = []

    def verifier_of(name: str) -> Callable[[bool], StreamVerifier]:
        def make(range_part: bool) -> StreamVerifier:
            layout = SubjectLayout(name)
            return StreamVerifier(
                layout, key=chain_key, signing_keys=signing_keys, range_part=range_part
            )

        return make

    async def rederive_only(nc: NATS) -> None:
        rederived.append(await _rederive(nc, settings, chosen, competition, first, last, as_json))

    async def work(nc: NATS) -> list[tuple[StreamVerifier, int]]:
        from infra.audit.log import extent
        from infra.audit.ranges import verify_ranges
        from infra.audit.witness import check_witness
        from infra.bootstrap import audit_ranges

        ranges = audit_ranges(settings)
        verified = []
        for name in _streams(settings, stream):
            try:
                size = await extent(nc, name)
            except StoreUnreachable:
                if stream:  # named by the user: it must exist
                    raise
                continue  # a default stream not made yet (no forecaster has run, say)
            verifier = verifier_of(name)(False)
            with _progress(f"verify {name}", size.messages, quiet=as_json) as advance:
                await verify_ranges(nc, name, verifier, size, ranges, on_page=advance)
            if known is not None:
                verifier.problems.extend(check_witness(known, verifier, size.last_seq))
            verified.append((verifier, size.last_seq))
        if forecasts:
            await rederive_only(nc)
        return verified

    if store_dir is not None:  # the chain check from the files, the rest through a server
        try:
            verified = _verify_files(store_dir, settings, stream, verifier_of, as_json)
        except AuditError as error:
            raise _fail(error) from None
        if known is not None:
            from infra.audit.witness import check_witness

            for verifier, last_seq in verified:
                verifier.problems.extend(check_witness(known, verifier, last_seq))
        if forecasts:
            _run(None, store_dir, rederive_only)
    else:
        verified = _run(nats_url, store_dir, work)
    reports = [v.report() for v, _ in verified]
    if signing_keys is not None and _all_signatures_fail(reports):
        raise _fail(_wrong_key(keys_file))
    mismatches = [m for r in rederived for m in (r.mismatches or [])]
    findings = (
        sum(len(r.problems) for r in reports)
        + (sum(r.unsealed for r in reports) if sealed else 0)
        + len(mismatches)
    )
    if as_json:
        body: dict[str, Any] = {"ok": findings == 0, "streams": [_report_json(r) for r in reports]}
        if rederived:
            from infra.audit.rederive import mismatch_json

            body["forecasts"] = {
                "checked": rederived[0].checked,
                "artifacts": rederived[0].artifacts,
                "mismatches": [mismatch_json(m) for m in mismatches],
            }
        print(json.dumps(body))
    else:
        _print_reports(reports, sealed=sealed)
        for r in rederived:
            _print_rederivation(r)
    if witness is not None and findings == 0:
        Witness.from_verifiers(verified).save(witness)
    raise typer.Exit(1 if findings else 0)


def _verify_files(
    store_dir: Path,
    settings: Settings,
    given: list[str] | None,
    verifier_of: Callable[[str], Callable[[bool], StreamVerifier]],
    quiet: bool,
) -> list[tuple[StreamVerifier, int]]:
    """Each stream's chain checked from its message blocks in ``store_dir`` (no server), in
    SPORTCAST_AUDIT_WORKERS processes (unset: infra/audit/from_blocks.py's default)."""
    from infra.audit.blocks import stored_stream
    from infra.audit.from_blocks import default_processes, verify_stored

    processes = settings.audit_workers or default_processes()
    verified = []
    for name in _streams(settings, given):
        stored = stored_stream(store_dir, name)
        if stored is None:
            if given:  # named by the user: it must exist
                raise StoreUnreachable(f"the store in {store_dir} has no stream {name!r}")
            continue  # a default stream not made yet (no forecaster has run, say)
        with _progress(f"verify {name}", None, quiet=quiet) as advance:
            verdict = verify_stored(stored, verifier_of(name), processes=processes, on_page=advance)
        verified.append((verdict.verifier, verdict.last_seq))
    return verified


def _fixture_ids(given: list[str] | None) -> set[UUID] | None:
    if not given:
        return None
    try:
        return {UUID(f) for f in given}
    except ValueError:
        raise _fail(UnknownFixture(f"not fixture ids (UUIDs): {given}")) from None


async def _chosen_fixtures(
    nc: NATS,
    settings: Settings,
    fixtures: set[UUID] | None,
    competitions: list[str] | None,
    *,
    quiet: bool,
) -> set[UUID] | None:
    """The fixtures given, and those of the competitions given (None: every fixture)."""
    from infra.audit.log import extent, fixtures_in

    if not competitions:
        return fixtures
    size = await extent(nc, settings.stream_name, missing_is_empty=True)
    with _progress("finding the competitions' fixtures", size.messages, quiet=quiet) as step:
        found = await fixtures_in(nc, settings.stream_name, set(competitions), on_page=step)
    return found | (fixtures or set())


async def _rederive(
    nc: NATS,
    settings: Settings,
    fixtures: set[UUID] | None,
    competitions: list[str] | None,
    first: int,
    last: int | None,
    quiet: bool,
) -> RederivationReport:
    from infra.audit.log import extent
    from infra.audit.rederive import fetch_artifacts, recorded_forecasts, rederive

    fixtures = await _chosen_fixtures(nc, settings, fixtures, competitions, quiet=quiet)
    size = await extent(nc, settings.forecaster_stream, missing_is_empty=True)
    with _progress("reading forecasts", size.messages, quiet=quiet) as step:
        recorded = await recorded_forecasts(
            nc, settings.forecaster_stream, fixtures=fixtures, first=first, last=last, on_page=step
        )
    artifacts = await fetch_artifacts(
        nc, settings.model_bucket, (f.artifact_hash for f in recorded)
    )
    with _progress("re-deriving forecasts", len(recorded), quiet=quiet) as step:
        return await asyncio.to_thread(rederive, recorded, artifacts, on_batch=step)


def _print_rederivation(report: RederivationReport) -> None:
    mismatches = report.mismatches or []
    out.print(
        f"forecasts re-derived: {report.checked:,} with {report.artifacts} artifacts; "
        f"{len(mismatches)} not bit-identical"
    )
    for m in mismatches[:50]:
        out.print(
            f"[red]forecast-mismatch[/] position {m.position} fixture {m.fixture_id} "
            f"{escape(m.model_id)}: {escape(m.reason)} (recorded {m.recorded}, "
            f"re-derived {m.rederived})"
        )
    if len(mismatches) > 50:
        out.print(f"... and {len(mismatches) - 50} more (use --json)")


def _bad_keys(path: Path, error: Exception) -> AuditError:
    return WrongKey(f"cannot read signing keys from {path}: {error!r}")


def _wrong_key(path: Path | None) -> AuditError:
    return WrongKey(
        f"no checkpoint signature verifies with the keys in {path}: wrong keys file, or the "
        "checkpoints were signed with keys not given"
    )


def _all_signatures_fail(reports: list[VerificationReport]) -> bool:
    signed = [p for r in reports for p in r.problems if p.kind == "bad-signature"]
    return bool(signed) and sum(r.checkpoints for r in reports) == len(signed)


def _report_json(report: VerificationReport) -> dict[str, Any]:
    return {**asdict(report), "ok": report.ok}


def _print_reports(reports: list[VerificationReport], *, sealed: bool) -> None:
    table = Table(title="log integrity")
    for column in ("stream", "messages", "events", "checkpoints", "sealed up to", "unsealed"):
        table.add_column(column, justify="right" if column != "stream" else "left")
    table.add_column("problems", justify="right")
    for r in reports:
        table.add_row(
            r.stream,
            f"{r.messages:,}",
            f"{r.events:,}",
            f"{r.checkpoints:,}",
            str(r.sealed_upto),
            f"{r.unsealed:,}",
            str(len(r.problems)),
        )
    out.print(table)
    for r in reports:
        for p in r.problems[:50]:
            out.print(
                f"[red]{p.kind}[/] {r.stream}:{p.seq} {escape(p.subject)}: {escape(p.detail)}"
            )
        if len(r.problems) > 50:
            out.print(f"... and {len(r.problems) - 50} more in {r.stream} (use --json)")
        if sealed and r.unsealed:
            out.print(f"[red]unsealed[/] {r.stream}: {r.unsealed} events after the last checkpoint")


@app.command("rebuild-features")
def rebuild_features_command(
    nats_url: NatsUrl = None,
    store_dir: StoreDir = None,
    fixture: Annotated[
        list[str] | None, typer.Option(help="Only this fixture's forecasts (UUID).")
    ] = None,
    competition: Annotated[
        list[str] | None, typer.Option(help="Only this competition's forecasts.")
    ] = None,
    first: Annotated[int, typer.Option("--from", help="From this forecast position.")] = 1,
    last: Annotated[
        int | None, typer.Option("--to", help="Up to this forecast position (inclusive).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Recompute chosen forecasts' feature vectors from the input events they cite (replaying
    the feed log to their positions with today's feature code) and compare with the recorded
    ones: catches feature-code drift between versions."""
    from infra.audit.features import rebuild_features
    from infra.audit.log import extent
    from infra.audit.rederive import fetch_artifacts, recorded_forecasts
    from infra.settings import Settings

    settings = Settings()
    chosen = _fixture_ids(fixture)

    async def work(nc: NATS) -> FeatureReport:
        fixtures = await _chosen_fixtures(nc, settings, chosen, competition, quiet=as_json)
        # Every forecast: which artifacts were in force when (infra/audit/models_in_force.py).
        issued = await recorded_forecasts(nc, settings.forecaster_stream)
        recorded = [
            f
            for f in issued
            if (fixtures is None or f.fixture_id in fixtures)
            and f.position >= first
            and (last is None or f.position <= last)
        ]
        artifacts = await fetch_artifacts(
            nc, settings.model_bucket, (f.artifact_hash for f in issued)
        )
        size = await extent(nc, settings.stream_name, missing_is_empty=True)
        with _progress("replaying the feed", size.messages, quiet=as_json) as step:
            return await rebuild_features(
                nc, settings.stream_name, recorded, artifacts, issued=issued, on_page=step
            )

    report = _run(nats_url, store_dir, work)
    if as_json:
        drifts = [
            {
                "position": d.position,
                "fixture_id": str(d.fixture_id),
                "as_of_position": d.as_of_position,
                "reason": d.reason,
                "differences": {k: list(v) for k, v in d.differences.items()},
            }
            for d in report.drifts
        ]
        body = {
            "ok": report.ok,
            "checked": report.checked,
            "skipped_reissues": report.skipped_reissues,
            "drifts": drifts,
            "not_rebuildable": [
                {"position": n.position, "fixture_id": str(n.fixture_id), "reason": n.reason}
                for n in report.not_rebuildable
            ],
        }
        print(json.dumps(body))
    else:
        out.print(
            f"feature vectors rebuilt: {report.checked:,}; {len(report.drifts)} differ; "
            f"{report.skipped_reissues} re-issues after promotions not rebuilt; "
            f"{len(report.not_rebuildable)} not rebuildable"
        )
        for n in report.not_rebuildable[:50]:
            out.print(
                f"[red]not-rebuildable[/] position {n.position} fixture {n.fixture_id}: "
                f"{escape(n.reason)}"
            )
        for d in report.drifts[:50]:
            names = ", ".join(sorted(d.differences)) or "-"
            out.print(
                f"[red]feature-drift[/] position {d.position} fixture {d.fixture_id} "
                f"(as of {d.as_of_position}): {escape(d.reason)}; {escape(names)}"
            )
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def timeline(
    fixture: Annotated[str, typer.Argument(help="The fixture id (a UUID).")],
    nats_url: NatsUrl = None,
    store_dir: StoreDir = None,
    as_json: AsJson = False,
) -> None:
    """The ordered story of one fixture: feed events, odds, forecasts, result, settlement."""
    from infra.audit.log import extent
    from infra.audit.timeline import fixture_timeline
    from infra.settings import Settings

    settings = Settings()
    try:
        fixture_id = UUID(fixture)
    except ValueError:
        raise _fail(UnknownFixture(f"{fixture!r} is not a fixture id (a UUID)")) from None

    async def work(nc: NATS) -> Timeline:
        size = await extent(nc, settings.stream_name, missing_is_empty=True)
        with _progress("reading the log", size.messages, quiet=as_json) as advance:
            return await fixture_timeline(
                nc,
                fixture_id,
                events_stream=settings.stream_name,
                forecasts_stream=settings.forecaster_stream,
                on_page=advance,
            )

    story = _run(nats_url, store_dir, work)
    if as_json:
        entries = [e.as_json() for e in story.entries]
        print(
            json.dumps(
                {"fixture_id": str(story.fixture_id), "title": story.title, "entries": entries}
            )
        )
        return
    table = Table(title=f"{story.title} ({story.fixture_id})")
    for column in ("position", "at", "what", "detail"):
        table.add_column(column, overflow="fold")
    for e in story.entries:
        detail = {
            k: v for k, v in e.as_json().items() if k not in {"stream", "position", "at", "kind"}
        }
        table.add_row(
            f"{e.stream}:{e.position}",
            e.at.isoformat(timespec="seconds") if e.at else "",
            e.kind,
            escape(json.dumps(detail, default=str)),
        )
    out.print(table)


@app.command("export")
def export_command(
    out_path: Annotated[Path, typer.Option("--out", help="The file to write.")],
    first: Annotated[int, typer.Option("--from", help="First position (inclusive).")] = 1,
    last: Annotated[int | None, typer.Option("--to", help="Last position (inclusive).")] = None,
    subject: Annotated[
        list[str] | None,
        typer.Option(help="Only these subjects, e.g. 'evt.>' or 'chk' (repeatable)."),
    ] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.JSONL,
    stream: Annotated[str | None, typer.Option(help="The stream (default: the events).")] = None,
    nats_url: NatsUrl = None,
    store_dir: StoreDir = None,
) -> None:
    """Raw events with their positions and headers, as JSON Lines or Parquet."""
    from infra.audit.export import export
    from infra.audit.log import extent
    from infra.settings import Settings

    settings = Settings()
    name = stream or settings.stream_name

    async def work(nc: NATS) -> int:
        size = await extent(nc, name, missing_is_empty=True)
        total = max(0, min(last or size.last_seq, size.last_seq) - first + 1)
        with _progress(f"export {name}", total, quiet=False) as advance:
            return await export(
                nc,
                name,
                out_path,
                fmt=fmt,
                first=first,
                last=last,
                subjects=subject,
                on_page=advance,
            )

    count = _run(nats_url, store_dir, work)
    err.print(f"{count:,} messages of {name} written to {out_path}")
