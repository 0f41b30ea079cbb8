"""`audit verify` re-derives thousands of forecasts of a real football replay bit for bit: the
shared dataset's August-December 2016 (eight leagues, opening and closing quotes, results) stored as
the ingestion stores it, forecast by a real (small) CatBoost model following the log in
batches, the artifact archived in the object store as `sportcast up` does; then the auditor's
CLI, against the running server, checks the chain and re-derives every forecast."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date

import pytest
from typer.testing import CliRunner

from infra.cli import app
from infra.embedded.nats import EmbeddedNats
from infra.feeds.replay import Replay
from infra.forecasting.artifacts import archive
from infra.forecasting.model_file import LoadedModel
from tests.football_month import DATA, small_model
from tests.integration.test_market_free_forecasts import follow, stored

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"datasets not found at {DATA}"),
]


def test_thousands_of_replayed_football_forecasts_rederive_bit_for_bit(
    nats_server: EmbeddedNats,
) -> None:
    url = nats_server.url
    name = f"T{uuid.uuid4().hex[:12].upper()}"
    events, forecasts, bucket = name, f"{name}_F", f"{name}_MODELS"
    model = small_model()
    archive(url, bucket, [model])
    messages = list(
        Replay(DATA, since=date(2016, 8, 1), until=date(2016, 12, 31)).messages("football")
    )
    env = stored(url, events, messages)
    issued = follow(env, forecasts, LoadedModel.from_bytes(model))
    assert len(issued) >= 2000, len(issued)
    assert {f.artifact_hash for f in issued} == {hashlib.sha256(model).hexdigest()}
    cli_env = {
        "SPORTCAST_STREAM_NAME": events,
        "SPORTCAST_FORECASTER_STREAM": forecasts,
        "SPORTCAST_MODEL_BUCKET": bucket,
    }
    result = CliRunner().invoke(
        app,
        ["audit", "verify", "--nats-url", url, "--stream", events, "--stream", forecasts, "--json"],
        env=cli_env,
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["forecasts"]["checked"] == len(issued)
    assert report["forecasts"]["artifacts"] == 1
    assert report["forecasts"]["mismatches"] == []
    # Only this test's streams: the session's server holds other tests' streams too.
    assert {s["stream"]: s["problems"] for s in report["streams"]} == {events: [], forecasts: []}
    assert report["ok"] is True
