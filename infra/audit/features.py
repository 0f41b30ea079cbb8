"""Feature vectors rebuilt from the input events a forecast cites, compared with the recorded ones.

A forecaster is run over the feed log from the start, in memory (nothing is written to the
store), with placeholder models so that it drafts a forecast at every trigger; each draft's
feature vector is what a forecast at that position records. A recorded vector that differs means
the feature code changed between versions (or the record was altered). Re-issues after a model
promotion (trigger ``model-promoted``) are not rebuilt: they depend on the registry's history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID

from nats.aio.client import Client as NATS

from commands.forecasting.drafts import MODEL_PROMOTED, recorded_features
from commands.forecasting.forecaster import Forecaster
from infra.audit.log import Progress, decode, domain_mapper, is_event, pages
from infra.audit.rederive import RecordedForecast
from infra.eventstore.records import TOPIC
from infra.eventstore.subjects import SubjectLayout

_IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


@dataclass(frozen=True)
class FeatureDrift:
    position: int
    fixture_id: UUID
    as_of_position: int
    differences: dict[str, tuple[float | None, float | None]]  # name: (recorded, rebuilt)
    reason: str


@dataclass
class FeatureReport:
    checked: int = 0
    skipped_reissues: int = 0
    drifts: list[FeatureDrift] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.drifts


async def rebuild_features(
    nc: NATS,
    events_stream: str,
    forecasts: Sequence[RecordedForecast],
    *,
    on_page: Progress | None = None,
) -> FeatureReport:
    report = FeatureReport()
    wanted: dict[tuple[UUID, int], list[RecordedForecast]] = {}
    for f in forecasts:
        if f.trigger == MODEL_PROMOTED:
            report.skipped_reissues += 1
            continue
        wanted.setdefault((f.fixture_id, f.as_of_position), []).append(f)
    if not wanted:
        return report
    until = max(position for _, position in wanted)
    rebuilt = await _drafted_features(nc, events_stream, until, on_page)
    for key, recorded in wanted.items():
        candidates = rebuilt.get(key, [])
        for f in recorded:
            report.checked += 1
            if f.features in candidates:
                continue
            report.drifts.append(_drift(f, candidates))
    return report


async def _drafted_features(
    nc: NATS, stream: str, until: int, on_page: Progress | None
) -> dict[tuple[UUID, int], list[dict[str, float]]]:
    marker = cast(Any, object())  # a model is present for every kind: every trigger is drafted
    forecaster = Forecaster(_IN_MEMORY, model=marker, inplay_model=marker, nba_models=marker)
    followed = set(forecaster.topics)
    mapper = domain_mapper()
    layout = SubjectLayout(stream)
    out: dict[tuple[UUID, int], list[dict[str, float]]] = {}
    try:
        async for page in pages(
            nc, stream, subject=layout.events, up_to_seq=until, on_page=on_page
        ):
            for record in page:
                if not is_event(record) or record.headers[TOPIC] not in followed:
                    forecaster.advance(record.seq)
                    continue
                draft = forecaster.draft(decode(mapper, layout, record), record.seq)
                if draft is not None:
                    key = (draft.fixture_id, draft.as_of_position)
                    out.setdefault(key, []).append(recorded_features(draft))
    finally:
        forecaster.close()
    return out


def _drift(f: RecordedForecast, candidates: list[dict[str, float]]) -> FeatureDrift:
    if not candidates:
        return FeatureDrift(
            f.position, f.fixture_id, f.as_of_position, {}, "no forecast is drafted there now"
        )
    closest = min(candidates, key=lambda c: len(_differences(f.features, c)))
    return FeatureDrift(
        f.position,
        f.fixture_id,
        f.as_of_position,
        _differences(f.features, closest),
        "the rebuilt feature vector differs",
    )


def _differences(
    recorded: dict[str, float], rebuilt: dict[str, float]
) -> dict[str, tuple[float | None, float | None]]:
    names = sorted(set(recorded) | set(rebuilt))
    return {
        n: (recorded.get(n), rebuilt.get(n)) for n in names if recorded.get(n) != rebuilt.get(n)
    }
