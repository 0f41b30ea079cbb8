"""Writes a walk-forward evaluation to a directory: report.json, report.md and two PNG charts."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a display

import matplotlib.pyplot as plt
import numpy as np

from forecasting.football.evaluation import (
    Comparison,
    SeasonForecast,
    compare,
    reliability_bins,
)
from forecasting.football.training_set import TrainingRow, outcomes
from forecasting.metrics import Probabilities

METRICS = ("rps", "log_loss", "brier", "accuracy", "directional_accuracy", "ece")


@dataclass(frozen=True)
class EvaluationReport:
    overall: Comparison
    by_competition: dict[str, Comparison]
    by_season: dict[str, Comparison]
    seasons: list[SeasonForecast]
    meta: dict[str, Any]
    stages: dict[str, dict[str, Comparison]] = field(default_factory=dict)
    """Other forecasts of the same matches ("at the closing quote", "market-free"): overall,
    per season and per competition, each against both markets."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "seasons": [
                {
                    "season": s.season,
                    "n": len(s.rows),
                    "trained_on": s.trained_on,
                    "trees": s.trees,
                    "temperature": s.temperature,
                }
                for s in self.seasons
            ],
            "overall": self.overall.as_dict(),
            "by_season": {k: v.as_dict() for k, v in self.by_season.items()},
            "by_competition": {k: v.as_dict() for k, v in self.by_competition.items()},
            "stages": {
                stage: {k: v.as_dict() for k, v in groups.items()}
                for stage, groups in self.stages.items()
            },
            "corrections_kept": {s.season: s.corrections_kept for s in self.seasons},
        }


def build_report(
    seasons: Sequence[SeasonForecast], meta: dict[str, Any], *, resamples: int = 1000
) -> EvaluationReport:
    rows = [r for s in seasons for r in s.rows]
    model = np.concatenate([s.probabilities for s in seasons])
    stages: dict[str, dict[str, Comparison]] = {}
    for stage, attribute in (("at the closing quote", "at_close"), ("market-free", "market_free")):
        forecasts = [getattr(s, attribute) for s in seasons]
        if any(f is None for f in forecasts):
            continue
        stacked = np.concatenate(forecasts)
        groups = {"overall": compare(rows, stacked, resamples=resamples)}
        for s, f in zip(seasons, forecasts, strict=True):
            groups[s.season] = compare(s.rows, f, resamples=resamples)
        stages[stage] = groups | _by_competition(rows, stacked, resamples)
    return EvaluationReport(
        stages=stages,
        overall=compare(rows, model, resamples=resamples),
        by_competition=_by_competition(rows, model, resamples),
        by_season={
            s.season: compare(s.rows, s.probabilities, resamples=resamples) for s in seasons
        },
        seasons=list(seasons),
        meta=meta,
    )


def _by_competition(
    rows: Sequence[TrainingRow], forecasts: Probabilities, resamples: int
) -> dict[str, Comparison]:
    """Each competition's matches, forecasts against both markets."""
    groups: dict[str, Comparison] = {}
    for competition in sorted({r.competition for r in rows}):
        index = np.array([i for i, r in enumerate(rows) if r.competition == competition])
        groups[competition] = compare(
            [rows[i] for i in index], forecasts[index], resamples=resamples
        )
    return groups


def write_report(report: EvaluationReport, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [
        _write(out / "report.json", json.dumps(_finite(report.as_dict()), indent=2) + "\n"),
        _write(out / "report.md", markdown(report)),
        _calibration_chart(report, out / "calibration.png"),
        _rps_chart(report, out / "rps_by_season.png"),
    ]
    return written


def markdown(report: EvaluationReport) -> str:
    lines = [
        "# Walk-forward evaluation: football 1X2",
        "",
        *(f"- {k}: {v}" for k, v in report.meta.items()),
        "",
        "Model, opening and closing market scored on the same matches (those with a closing "
        "price). Differences are model minus market per match, with paired bootstrap 95% "
        "intervals; negative RPS / log-loss differences favour the model.",
        "",
        "## Overall",
        "",
        *_table({"overall": report.overall}),
        "",
        "## By season",
        "",
        *_table(report.by_season),
        "",
        "## By competition",
        "",
        *_table(report.by_competition),
        "",
        *_stage_sections(report),
        "## Model minus market (95% CI)",
        "",
        *_ci_table({"overall": report.overall, **report.by_season, **report.by_competition}),
    ]
    return "\n".join(lines) + "\n"


def _stage_sections(report: EvaluationReport) -> list[str]:
    lines: list[str] = []
    for stage, groups in report.stages.items():
        lines += [f"## {stage[0].upper()}{stage[1:]}", "", *_table(groups), "", *_ci_table(groups)]
        lines.append("")
    if report.seasons and report.seasons[0].corrections_kept is not None:
        lines += [
            "## Corrections kept (one-standard-error rule, per trigger stage)",
            "",
            "| season | odds-open | closing |",
            "|---|---|---|",
        ]
        for s in report.seasons:
            kept = s.corrections_kept or {}
            lines.append(
                f"| {s.season} | {kept.get('odds-open', False)} | {kept.get('closing', False)} |"
            )
        lines.append("")
    return lines


def _ci_table(groups: dict[str, Comparison]) -> list[str]:
    lines = [
        "| group | RPS vs opening | RPS vs closing | log loss vs opening | log loss vs closing |",
        "|---|---|---|---|---|",
    ]
    for name, c in groups.items():
        cells = [
            _ci(d)
            for d in (
                c.rps_vs_opening,
                c.rps_vs_closing,
                c.log_loss_vs_opening,
                c.log_loss_vs_closing,
            )
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _table(groups: dict[str, Comparison]) -> list[str]:
    head = "| group | forecaster | n | " + " | ".join(METRICS) + " |"
    lines = [head, "|" + "---|" * (len(METRICS) + 3)]
    for name, c in groups.items():
        for label, card in (("model", c.model), ("opening", c.opening), ("closing", c.closing)):
            values = card.as_dict()
            cells = " | ".join(f"{values[m]:.5f}" for m in METRICS)
            lines.append(f"| {name} | {label} | {card.n} | {cells} |")
    return lines


def _ci(d: Any) -> str:
    return f"{d.estimate:+.5f} [{d.low:+.5f}, {d.high:+.5f}]"


def _calibration_chart(report: EvaluationReport, path: Path) -> Path:
    rows = [r for s in report.seasons for r in s.rows]
    y = outcomes(rows)
    model = np.concatenate([s.probabilities for s in report.seasons])
    opening = np.array([r.features.market_probabilities() for r in rows])
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for label, probabilities in (("model", model), ("opening market", opening)):
        bins = [b for b in reliability_bins(probabilities, y) if b.count]
        ax.plot(
            [b.mean_predicted for b in bins],
            [b.observed_rate for b in bins],
            marker="o",
            label=label,
        )
    ax.set_xlabel("forecast probability (10 bins, all three outcomes)")
    ax.set_ylabel("observed frequency")
    ax.set_title("Reliability, evaluated seasons")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _rps_chart(report: EvaluationReport, path: Path) -> Path:
    seasons = list(report.by_season)
    x = np.arange(len(seasons))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.27
    series = {
        "model": [report.by_season[s].model.rps for s in seasons],
        "opening market": [report.by_season[s].opening.rps for s in seasons],
        "closing market": [report.by_season[s].closing.rps for s in seasons],
    }
    for offset, (label, heights) in zip((-width, 0.0, width), series.items(), strict=True):
        ax.bar(x + offset, heights, width, label=label)
    values = [
        v for c in report.by_season.values() for v in (c.model.rps, c.opening.rps, c.closing.rps)
    ]
    ax.set_ylim(min(values) * 0.98, max(values) * 1.01)
    ax.set_xticks(x, seasons)
    ax.set_ylabel("RPS (lower is better)")
    ax.set_title("Ranked probability score by season")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _finite(value: Any) -> Any:
    # JSON has no NaN: a metric with no defined value (e.g. no decided matches) becomes null.
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
