"""The provisioned Grafana dashboard asks only for metrics the code defines, under the names
OpenTelemetry's Prometheus exporter gives them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_INSTRUMENT = re.compile(
    r"create_(counter|histogram|up_down_counter|observable_gauge|observable_counter)"
    r"\(\s*\"(sportcast\.[a-z_.]+)\"",
    re.MULTILINE,
)
_SUFFIX = {
    "counter": ["_total"],
    "histogram": ["_bucket", "_sum", "_count"],
    "up_down_counter": [""],
    "observable_gauge": [""],  # ours name their unit already (lag_seconds)
    "observable_counter": ["_total"],
}


def exported_names() -> set[str]:
    names: set[str] = set()
    for package in ("gateway", "infra", "commands", "projections", "readmodels"):
        for source in (ROOT / package).rglob("*.py"):
            for kind, name in _INSTRUMENT.findall(source.read_text()):
                base = name.replace(".", "_")
                unit = "_seconds" if kind == "histogram" else ""
                names.update(base + unit + suffix for suffix in _SUFFIX[kind])
    return names


def test_every_dashboard_query_uses_a_metric_the_code_defines() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/sportcast-dashboard.json").read_text())
    known = exported_names()
    used = {
        metric
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for metric in re.findall(r"\b(sportcast_[a-z_]+)\b", target["expr"])
    }
    assert used
    assert used <= known, f"not defined in the code: {sorted(used - known)}"


def test_prometheus_scrapes_the_gateway_and_the_followers_compose_runs() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    scraped = set()
    for job in config["scrape_configs"]:
        assert job["metrics_path"] == "/metrics"
        [target] = job["static_configs"][0]["targets"]
        host, port = target.split(":")
        env = compose["services"][host]["environment"]
        serves = env.get("SPORTCAST_GATEWAY_PORT") if host == "gateway" else None
        assert (serves or env["SPORTCAST_METRICS_PORT"]) == port, host
        if host != "gateway":
            assert env["SPORTCAST_METRICS_HOST"] == "0.0.0.0", host
        scraped.add(host)
    assert scraped == {
        "gateway",
        "forecaster",
        "feed-health",
        "projector",
        "trainer",
        "checkpointer",
    }


def test_the_dashboard_shows_the_latencies_lags_trainer_and_checkpointer_issue_17_asks_for() -> (
    None
):
    dashboard = json.loads((ROOT / "deploy/grafana/sportcast-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel["targets"])
    for metric in (
        "sportcast_forecast_latency_seconds_bucket",
        "sportcast_forecaster_lag_events",
        "sportcast_projection_lag_events",
        "sportcast_projection_lag_seconds",
        "sportcast_sse_delivery_latency_seconds_bucket",
        "sportcast_trainer_runs_total",
        "sportcast_trainer_last_duration_seconds",
        "sportcast_trainer_last_success_age_seconds",
        "sportcast_checkpoint_writes_total",
        "sportcast_checkpoint_failures_total",
        "sportcast_checkpoint_position",
        "sportcast_checkpoint_age_seconds",
    ):
        assert metric in exprs, metric
