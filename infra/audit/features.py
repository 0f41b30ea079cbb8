"""Feature vectors rebuilt from the input events a forecast cites, compared with the recorded ones.

A forecaster is run over the feed log from the start, in memory (nothing is written to the
store), holding at each position the model artifacts it held then (infra/audit/models_in_force.py:
the stored artifacts the forecasts name, fetched by hash), so that it drafts what it drafted;
each draft's feature vector is what a forecast at that position records. The artifacts matter
for fixtures nobody quoted: their kick-off rows and their in-play priors come from a model. A
recorded vector that differs means the feature code changed between versions (or the record was
altered). Re-issues after a model promotion (trigger ``model-promoted``) are not rebuilt: they
depend on the registry's history. A forecast whose artifact cannot be loaded (its bytes changed,
or an unknown kind) is reported as not rebuildable, with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from nats.aio.client import Client as NATS

from commands.forecasting.drafts import MODEL_PROMOTED, recorded_features
from commands.forecasting.forecaster import Forecaster
from infra.audit.log import Progress, decode, domain_mapper, is_event, pages
from infra.audit.models_in_force import ModelsInForce
from infra.audit.rederive import RecordedForecast
from infra.eventstore.records import TOPIC
from infra.eventstore.subjects import SubjectLayout
from infra.forecasting.artifacts import ArtifactIntegrityError

_IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


@dataclass(frozen=True)
class FeatureDrift:
    position: int
    fixture_id: UUID
    as_of_position: int
    differences: dict[str, tuple[float | None, float | None]]  # name: (recorded, rebuilt)
    reason: str


@dataclass(frozen=True)
class NotRebuildable:
    position: int
    fixture_id: UUID
    reason: str


@dataclass
class FeatureReport:
    checked: int = 0
    skipped_reissues: int = 0
    drifts: list[FeatureDrift] = field(default_factory=list)
    not_rebuildable: list[NotRebuildable] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every chosen forecast rebuilt (re-issues aside) and equal to its record."""
        return not self.drifts and not self.not_rebuildable


async def rebuild_features(
    nc: NATS,
    events_stream: str,
    forecasts: Sequence[RecordedForecast],
    artifacts: dict[str, bytes | ArtifactIntegrityError],
    *,
    issued: Sequence[RecordedForecast] | None = None,
    on_page: Progress | None = None,
) -> FeatureReport:
    """Rebuild ``forecasts``' feature vectors with the models named by ``issued`` (every
    forecast of the log up to them; default ``forecasts``) in force, from ``artifacts``
    (theirs, by hash)."""
    report = FeatureReport()
    models = ModelsInForce.of(forecasts if issued is None else issued, artifacts)
    wanted: dict[tuple[UUID, int], list[RecordedForecast]] = {}
    for f in forecasts:
        if f.trigger == MODEL_PROMOTED:
            report.skipped_reissues += 1
        elif f.artifact_hash in models.unusable:
            reason = f"not rebuildable: {models.unusable[f.artifact_hash]}"
            report.not_rebuildable.append(NotRebuildable(f.position, f.fixture_id, reason))
        else:
            wanted.setdefault((f.fixture_id, f.as_of_position), []).append(f)
    if not wanted:
        return report
    until = max(position for _, position in wanted)
    rebuilt = await _drafted_features(nc, events_stream, until, models, on_page)
    for key, recorded in wanted.items():
        candidates = rebuilt.get(key, [])
        for f in recorded:
            report.checked += 1
            if f.features in candidates:
                continue
            report.drifts.append(_drift(f, candidates))
    return report


async def _drafted_features(
    nc: NATS, stream: str, until: int, models: ModelsInForce, on_page: Progress | None
) -> dict[tuple[UUID, int], list[dict[str, float]]]:
    forecaster = Forecaster(_IN_MEMORY)
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
                held = models.at(record.seq)
                forecaster.model = held.football
                forecaster.inplay_model = held.inplay
                forecaster.nba_models = held.nba
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
