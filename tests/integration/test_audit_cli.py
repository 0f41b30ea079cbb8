"""`sportcast audit` against a real nats-server holding a simulated season with forecasts:
clean logs pass, tampered ones are caught, errors name their code."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from commands.ingestion import FeedIngestion
from domain.errors import DomainError
from domain.fixture_id import fixture_id
from domain.provenance import Provenance
from domain.sport import Sport
from forecasting.football.features import FeatureBuilder, FootballFeatures
from forecasting.football.model import (
    FootballModelParameters,
    TemperatureCalibration,
    train_football_model,
)
from infra.audit.checkpointer import Checkpointer, load_or_make_keys
from infra.cli import app
from infra.connections import connect_nats
from infra.embedded.nats import EmbeddedNats
from infra.embedded.ports import free_port
from infra.feeds.simulated import simulated_messages
from infra.feeds.simulator import SeasonSimulator
from infra.forecasting.artifacts import archive
from infra.forecasting.model_file import LoadedModel, dump_model
from infra.forecasting.service import ForecasterService
from tests.own_nats import own_nats
from tests.projecting import dump

pytestmark = pytest.mark.slow
EVENTS, FORECASTS, MODELS = "AUDIT_EVENTS", "AUDIT_FORECASTS", "AUDIT_MODELS"
runner = CliRunner()


@dataclass
class AuditedLog:
    server: EmbeddedNats
    store: Path
    keys: Path
    env: dict[str, str]
    fixture: str


def _small_model() -> bytes:
    rng = np.random.default_rng(7)
    width = len(fields(FootballFeatures))

    def rows(n: int) -> tuple[list[FootballFeatures], np.ndarray]:
        x = rng.normal(size=(n, width))
        x[:, :3] = rng.dirichlet([4, 3, 3], size=n)
        return [FootballFeatures(*map(float, r)) for r in x], np.array(
            [rng.choice(3, p=p) for p in x[:, :3]]
        )

    train, train_y = rows(300)
    hold, hold_y = rows(100)
    # Keep the correction whatever its validation gain (the one-SE rule would give the market
    # itself on these random rows): the audit must see a model's own code at work.
    params = FootballModelParameters(
        max_iterations=20, early_stopping_rounds=5, standard_errors=-1e9
    )
    return dump_model(train_football_model(train, train_y, hold, hold_y, params))


def _seal(url: str, keys: Path) -> None:
    async def main() -> None:
        nc = await connect_nats(url)
        signing, _ = load_or_make_keys(keys)
        checkpointer = Checkpointer(
            nc, [EVENTS, FORECASTS, "NO_SUCH_STREAM"], chain_key=b"", signing=signing, interval=60
        )
        await checkpointer.start()
        await checkpointer.stop()  # seals once at shutdown
        await nc.close()

    asyncio.run(main())


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditedLog]:
    store = tmp_path_factory.mktemp("audit-nats")
    with own_nats(store) as server:
        env = {
            "PERSISTENCE_MODULE": "infra.eventstore",
            "NATS_URL": server.url,
            "NATS_STREAM": EVENTS,
        }
        feeds = FeedIngestion(env)
        received = Provenance(source="test", received_at=datetime.now(UTC))
        messages = list(simulated_messages(SeasonSimulator(seed=3)))[:1500]
        for message in messages:
            with contextlib.suppress(DomainError):
                feeds.handle(message.build(message.key, received))
        head = feeds.recorder.max_notification_id() or 0
        feeds.close()
        model = _small_model()
        archive(server.url, MODELS, [model])  # as `sportcast up` does with every model it loads
        service = ForecasterService(env, FORECASTS, LoadedModel.from_bytes(model))
        service.start()
        deadline = time.monotonic() + 60
        while service.position < head:
            assert service.failure is None, service.failure
            assert time.monotonic() < deadline
            time.sleep(0.05)
        service.stop()
        keys = tmp_path_factory.mktemp("keys") / "checkpoint-keys.json"
        _seal(server.url, keys)
        first = SeasonSimulator(seed=3).fixtures()[0]
        fid = fixture_id(Sport.FOOTBALL, first.competition, first.kickoff, first.home, first.away)
        yield AuditedLog(server, store, keys, env, str(fid))


def snapshot(log: AuditedLog, dest: Path) -> None:
    """A copy of the store's files taken with the server stopped (a consistent copy)."""
    log.server.stop()
    try:
        shutil.copytree(log.store, dest)
    finally:
        log.server.start()


def audit(log: AuditedLog, *args: str, bucket: str = MODELS) -> tuple[int, str]:
    env = {
        "SPORTCAST_STREAM_NAME": EVENTS,
        "SPORTCAST_FORECASTER_STREAM": FORECASTS,
        "SPORTCAST_MODEL_BUCKET": bucket,
    }
    result = runner.invoke(app, ["audit", *args], env=env)
    return result.exit_code, result.stdout + (result.stderr if result.stderr_bytes else "")


def test_an_untouched_log_verifies_with_its_signed_checkpoints(audited: AuditedLog) -> None:
    code, output = audit(
        audited,
        "verify",
        "--nats-url",
        audited.server.url,
        "--stream",
        EVENTS,
        "--stream",
        FORECASTS,
        "--keys-file",
        str(audited.keys),
        "--sealed",
        "--json",
    )
    assert code == 0, output
    report = json.loads(output)
    events, forecasts = report["streams"]
    assert events["events"] > 1000
    assert forecasts["events"] > 50
    assert events["checkpoints"] == 1
    assert events["unsealed"] == 0


def test_wrong_keys_are_named_not_mistaken_for_tampering(
    audited: AuditedLog, tmp_path: Path
) -> None:
    other = tmp_path / "other.json"
    load_or_make_keys(other)  # a fresh key under the same id
    code, output = audit(
        audited, "verify", "--nats-url", audited.server.url, "--stream", EVENTS,
        "--keys-file", str(other),
    )  # fmt: skip
    assert code == 2
    assert "[wrong-key]" in output


def test_a_flipped_byte_in_the_stores_files_is_caught(audited: AuditedLog, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    snapshot(audited, copy)
    blocks = sorted((copy / "jetstream").glob(f"*/streams/{EVENTS}/msgs/*.blk"))
    assert blocks
    data = bytearray(blocks[0].read_bytes())
    where = data.find(b'"home"')  # inside an event's JSON payload
    assert where > 0
    data[where + 2] ^= 0x01
    blocks[0].write_bytes(bytes(data))
    code, output = audit(audited, "verify", "--store-dir", str(copy), "--stream", EVENTS, "--json")
    assert code == 1, output
    kinds = {p["kind"] for p in json.loads(output)["streams"][0]["problems"]}
    # nats-server drops a message whose block checksum fails: a gap; else the hash differs.
    assert kinds & {"altered-event", "missing-sequence", "checkpoint-mismatch"}


def test_store_files_read_without_a_server_name_what_they_cannot_read(
    audited: AuditedLog, tmp_path: Path
) -> None:
    """`verify --store-dir` reads the chain from the message blocks: a record whose length
    no longer fits its block is a finding (the rest of the block is not read), an encrypted
    store a named error."""
    copy = tmp_path / "copy"
    snapshot(audited, copy)
    block = sorted((copy / "jetstream").glob(f"*/streams/{EVENTS}/msgs/*.blk"))[0]
    data = bytearray(block.read_bytes())
    length = int.from_bytes(data[:4], "little") & ~(1 << 31)
    data[length + 3] ^= 0x7F  # the second record's length, high byte (header bit kept)
    block.write_bytes(bytes(data))
    code, output = audit(
        audited, "verify", "--store-dir", str(copy), "--stream", EVENTS, "--no-forecasts", "--json"
    )
    assert code == 1, output
    kinds = {p["kind"] for p in json.loads(output)["streams"][0]["problems"]}
    assert "unreadable-record" in kinds
    (block.parent / "1.key").write_bytes(b"k" * 64)
    code, output = audit(audited, "verify", "--store-dir", str(copy), "--stream", EVENTS)
    assert code == 2
    assert "[unknown-store-format]" in output


def test_a_store_cut_back_to_an_older_copy_is_caught_by_the_witness(
    audited: AuditedLog, tmp_path: Path
) -> None:
    older = tmp_path / "older"
    snapshot(audited, older)  # what the log held at this moment
    witness = tmp_path / "witness.json"
    # More events and another checkpoint arrive; the auditor's run records them.
    feeds = FeedIngestion(audited.env)
    received = Provenance(source="test", received_at=datetime.now(UTC))
    for message in list(simulated_messages(SeasonSimulator(seed=3)))[1500:1700]:
        with contextlib.suppress(DomainError):
            feeds.handle(message.build(message.key, received))
    feeds.close()
    _seal(audited.server.url, audited.keys)
    url = audited.server.url
    assert audit(audited, "verify", "--nats-url", url, "--stream", EVENTS,
                 "--witness", str(witness))[0] == 0  # fmt: skip
    # The older copy verifies on its own ...
    assert audit(audited, "verify", "--store-dir", str(older), "--stream", EVENTS)[0] == 0
    # ... but not against the witness: its newest events are gone.
    code, output = audit(
        audited, "verify", "--store-dir", str(older), "--stream", EVENTS,
        "--witness", str(witness), "--json",
    )  # fmt: skip
    assert code == 1
    kinds = {p["kind"] for p in json.loads(output)["streams"][0]["problems"]}
    assert "truncated" in kinds


def test_timeline_tells_one_fixtures_story_in_order(audited: AuditedLog) -> None:
    code, output = audit(
        audited, "timeline", audited.fixture, "--nats-url", audited.server.url, "--json"
    )
    assert code == 0, output
    story = json.loads(output)
    kinds = [e["kind"] for e in story["entries"]]
    assert kinds[0] == "Fixture.Scheduled"
    assert "odds" in kinds
    assert "forecast" in kinds
    assert "Fixture.Finished" in kinds
    assert kinds[-1] == "settlement"
    settled = [e for e in story["entries"] if e["kind"] == "settlement"]
    assert len(settled) == kinds.count("forecast")
    assert all(0.0 <= e["rps"] <= 1.0 for e in settled)
    timed = [e["at"] for e in story["entries"] if e["kind"] != "settlement"]
    assert timed == sorted(timed)


def test_unknown_fixture_and_unreachable_store_are_named_errors(audited: AuditedLog) -> None:
    unknown = "00000000-0000-5000-8000-000000000000"
    code, output = audit(audited, "timeline", unknown, "--nats-url", audited.server.url)
    assert code == 2
    # One line whatever its length when the output is not a terminal (a program reads it).
    (line,) = [line for line in output.splitlines() if "[unknown-fixture]" in line]
    assert line.endswith(f"the log holds no event of fixture {unknown}")
    code, output = audit(audited, "verify", "--nats-url", f"nats://127.0.0.1:{free_port()}")
    assert code == 2
    assert "[store-unreachable]" in output
    assert "Traceback" not in output


def test_export_writes_every_message_in_range_as_jsonl_and_parquet(
    audited: AuditedLog, tmp_path: Path
) -> None:
    url = audited.server.url
    jsonl, parquet = tmp_path / "log.jsonl", tmp_path / "log.parquet"
    assert audit(audited, "export", "--nats-url", url, "--from", "5", "--to", "404",
                 "--out", str(jsonl))[0] == 0  # fmt: skip
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [line["position"] for line in lines] == list(range(5, 405))
    assert all("Es-Hash" in line["headers"] or "Es-Tracking" in line["headers"] for line in lines)
    assert audit(audited, "export", "--nats-url", url, "--from", "5", "--to", "404",
                 "--format", "parquet", "--out", str(parquet))[0] == 0  # fmt: skip
    rows = duckdb.sql(f"SELECT position, data FROM '{parquet}' ORDER BY position").fetchall()
    assert [r[0] for r in rows] == list(range(5, 405))
    assert [r[1] for r in rows] == [line["data"] for line in lines]


def test_every_forecast_is_rederived_bit_for_bit(audited: AuditedLog) -> None:
    code, output = audit(audited, "verify", "--nats-url", audited.server.url, "--json")
    assert code == 0, output
    forecasts = json.loads(output)["forecasts"]
    assert forecasts["checked"] > 100
    assert forecasts["artifacts"] == 1
    assert forecasts["mismatches"] == []


def test_changed_model_code_is_caught(audited: AuditedLog, monkeypatch: pytest.MonkeyPatch) -> None:
    original = TemperatureCalibration.apply

    def drifted(self: TemperatureCalibration, raw: np.ndarray) -> np.ndarray:
        return original(replace(self, temperature=self.temperature * 1.0001), raw)

    monkeypatch.setattr(TemperatureCalibration, "apply", drifted)
    code, output = audit(audited, "verify", "--nats-url", audited.server.url, "--json")
    assert code == 1
    forecasts = json.loads(output)["forecasts"]
    # Every forecast the correction made drifts; those at the closing quote are the closing
    # market itself (no correction passes the one-SE rule without closing rows), which no
    # calibration touches.
    assert 100 < len(forecasts["mismatches"]) <= forecasts["checked"]


def test_a_changed_artifact_is_caught_and_a_missing_one_named(audited: AuditedLog) -> None:
    async def swap(new: bytes | None) -> bytes:
        nc = await connect_nats(audited.server.url)
        store = await nc.jetstream().object_store(MODELS)
        [name] = [info.name for info in await store.list()]
        old = bytes((await store.get(name)).data or b"")
        if new is not None:
            await store.put(name, new)
        await nc.close()
        return old

    original = asyncio.run(swap(None))
    asyncio.run(swap(original[:-1] + bytes([original[-1] ^ 1])))
    try:
        code, output = audit(audited, "verify", "--nats-url", audited.server.url, "--json")
    finally:
        asyncio.run(swap(original))
    assert code == 1
    reasons = {m["reason"] for m in json.loads(output)["forecasts"]["mismatches"]}
    assert any("changed after it was stored" in r for r in reasons)
    code, output = audit(audited, "verify", "--nats-url", audited.server.url, bucket="NO_BUCKET")
    assert code == 2
    assert "[artifact-missing]" in output


def test_rebuilt_feature_vectors_equal_the_recorded_ones(audited: AuditedLog) -> None:
    code, output = audit(audited, "rebuild-features", "--nats-url", audited.server.url, "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["checked"] > 100
    assert report["drifts"] == []


def test_changed_feature_code_is_caught(
    audited: AuditedLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = FeatureBuilder.features

    def drifted(self: FeatureBuilder, fixture_id: str) -> FootballFeatures:
        row = original(self, fixture_id)
        return replace(row, home_rest_days=row.home_rest_days + 1.0)

    monkeypatch.setattr(FeatureBuilder, "features", drifted)
    code, output = audit(
        audited, "rebuild-features", "--nats-url", audited.server.url, "--fixture",
        audited.fixture, "--json",
    )  # fmt: skip
    assert code == 1
    report = json.loads(output)
    assert report["checked"] >= 1
    assert len(report["drifts"]) == report["checked"]
    assert all(set(d["differences"]) == {"home_rest_days"} for d in report["drifts"])


def test_a_replay_from_a_copy_of_the_store_equals_one_from_the_running_server(
    audited: AuditedLog, tmp_path: Path, postgres_url: str
) -> None:
    copy = tmp_path / "copy"
    snapshot(audited, copy)
    env = {"SPORTCAST_STREAM_NAME": EVENTS, "SPORTCAST_FORECASTER_STREAM": FORECASTS}
    common = ["--until", "events=700", "--projection", "fixtures", "--projection", "forecasts"]
    common += ["--postgres-url", postgres_url, "--json"]
    made = {}
    for name, source in (
        ("running", ["--nats-url", audited.server.url]),
        ("copied", ["--store-dir", str(copy)]),
    ):
        result = runner.invoke(app, ["replay", "--schema", name, *source, *common], env=env)
        assert result.exit_code == 0, result.stdout + result.stderr
        made[name] = json.loads(result.stdout)
    assert made["running"]["positions"] == made["copied"]["positions"]
    assert made["running"]["positions"]["events"] == 700
    running = dump(postgres_url, {p: f"running_{p}" for p in ("fixtures", "forecasts")})
    copied = dump(postgres_url, {p: f"copied_{p}" for p in ("fixtures", "forecasts")})
    assert running == copied
    assert running["fixtures"]["fixtures"]
    missing = runner.invoke(
        app, ["replay", "--schema", "x", "--store-dir", str(tmp_path / "none"), *common], env=env
    )
    assert missing.exit_code == 2
    assert "[store-unreachable]" in missing.stderr


def test_worker_processes_give_the_same_reports_and_named_errors(
    audited: AuditedLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`audit verify` with the chain check split over processes (ADR 0031): the same --json
    report as one process on the untouched log and on a copy with a flipped byte; a wrong key
    still named."""
    copy = tmp_path / "copy"
    snapshot(audited, copy)
    blocks = sorted((copy / "jetstream").glob(f"*/streams/{EVENTS}/msgs/*.blk"))
    data = bytearray(blocks[0].read_bytes())
    where = data.find(b'"away"')
    assert where > 0
    data[where + 2] ^= 0x01
    blocks[0].write_bytes(bytes(data))
    untouched = ["--nats-url", audited.server.url, "--stream", EVENTS, "--stream", FORECASTS,
                 "--keys-file", str(audited.keys), "--no-forecasts", "--json"]  # fmt: skip
    flipped = ["--store-dir", str(copy), "--stream", EVENTS, "--no-forecasts", "--json"]
    monkeypatch.setenv("SPORTCAST_AUDIT_PARALLEL_FROM", "0")
    for args, code in ((untouched, 0), (flipped, 1)):
        monkeypatch.setenv("SPORTCAST_AUDIT_WORKERS", "1")
        one = audit(audited, "verify", *args)
        monkeypatch.setenv("SPORTCAST_AUDIT_WORKERS", "2")
        two = audit(audited, "verify", *args)
        assert one[0] == code, one[1]
        assert two == one
    other = tmp_path / "other.json"
    load_or_make_keys(other)
    code, output = audit(
        audited, "verify", "--nats-url", audited.server.url, "--stream", EVENTS,
        "--keys-file", str(other), "--no-forecasts",
    )  # fmt: skip
    assert code == 2
    assert "[wrong-key]" in output


def test_verify_rederives_only_the_forecasts_chosen(audited: AuditedLog) -> None:
    """A fixture, a competition and a range of forecast positions each narrow the re-derivation
    to exactly their forecasts; the chain is still checked whole."""
    url = audited.server.url

    def checked(*args: str) -> int:
        code, output = audit(audited, "verify", "--nats-url", url, "--stream", FORECASTS,
                             "--json", *args)  # fmt: skip
        assert code == 0, output
        return int(json.loads(output)["forecasts"]["checked"])

    every = checked()
    code, output = audit(audited, "timeline", audited.fixture, "--nats-url", url, "--json")
    assert code == 0, output
    own = [e for e in json.loads(output)["entries"] if e["kind"] == "forecast"]
    assert 0 < len(own) < every
    assert checked("--fixture", audited.fixture) == len(own)
    assert checked("--competition", "sim-league") == every
    assert checked("--competition", "no-such-league") == 0
    head, tail = checked("--from", "1", "--to", "40"), checked("--from", "41")
    assert 0 < head < every
    assert head + tail == every
    code, output = audit(audited, "verify", "--nats-url", url, "--fixture", "not-a-uuid")
    assert code == 2
    assert "[unknown-fixture]" in output


def test_readable_reports_name_every_stream_and_every_entry(audited: AuditedLog) -> None:
    """Without --json: the integrity table and the re-derivation summary, and the timeline as
    a table whose cells are whole (output that is not a terminal is never cut short)."""
    url = audited.server.url
    code, output = audit(audited, "verify", "--nats-url", url, "--stream", EVENTS,
                         "--stream", FORECASTS)  # fmt: skip
    assert code == 0, output
    assert "log integrity" in output
    assert EVENTS in output
    assert FORECASTS in output
    assert "forecasts re-derived:" in output
    assert "0 not bit-identical" in output
    code, output = audit(audited, "timeline", audited.fixture, "--nats-url", url)
    assert code == 0, output
    assert audited.fixture in output
    assert "…" not in output
    for kind in ("Fixture.Scheduled", "forecast", "Fixture.Finished", "settlement"):
        assert kind in output


def test_an_export_is_the_same_whatever_range_or_subjects_it_was_read_with(
    audited: AuditedLog, tmp_path: Path
) -> None:
    """--subject keeps exactly those subjects' messages; a message is exported with the same
    headers whichever read brought it (no header about the read itself)."""
    url = audited.server.url
    every, tail, seals = (tmp_path / f"{n}.jsonl" for n in ("every", "tail", "chk"))
    args = ["export", "--nats-url", url, "--stream", FORECASTS]
    assert audit(audited, *args, "--out", str(every))[0] == 0
    assert audit(audited, *args, "--from", "30", "--out", str(tail))[0] == 0
    assert audit(audited, *args, "--subject", "chk", "--out", str(seals))[0] == 0
    lines = [json.loads(line) for line in every.read_text().splitlines()]
    kept = [json.loads(line) for line in seals.read_text().splitlines()]
    assert kept
    assert kept == [line for line in lines if line["subject"].endswith(".chk")]
    assert len(kept) < len(lines)
    assert [json.loads(line) for line in tail.read_text().splitlines()] == lines[29:]
    assert all(line["headers"]["Nats-Sequence"] == str(line["position"]) for line in lines)
    assert not any(set(line["headers"]) & {"Nats-Num-Pending", "Nats-Last-Sequence"}
                   for line in lines)  # fmt: skip
