"""Every forecast re-derived from what it recorded: its feature vector and its model artifact.

The artifact is fetched from the object store by the hash the forecast names (and refused if
its bytes no longer hash to it); the recorded features go through the same model code, one call
per artifact and kind for many forecasts; the result must equal the recorded probabilities bit
for bit. A difference means a changed artifact, changed model code, or an altered record.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np
from nats.aio.client import Client as NATS

from domain.forecast import FixtureForecasts
from forecasting.football.features import FootballFeatures
from forecasting.football.market_free import ResultsFeatures
from forecasting.inplay.model import FEATURE_NAMES, MatchState, feature_matrix, one_x_two
from forecasting.nba.features import NbaFeatures
from forecasting.nba.inplay import NbaQuarterState
from infra.audit.errors import ArtifactMissing
from infra.audit.log import Progress, decode, domain_mapper, is_event, pages
from infra.eventstore.subjects import SubjectLayout
from infra.forecasting.artifacts import ArtifactError, ArtifactIntegrityError, ArtifactStore
from infra.forecasting.model_file import LoadedInPlayModel, LoadedModel
from infra.forecasting.nba_model_file import LoadedNbaModels

Probabilities = tuple[float, ...]


@dataclass(frozen=True)
class RecordedForecast:
    position: int
    fixture_id: UUID
    trigger: str
    model_id: str
    artifact_hash: str
    features: dict[str, float]
    probabilities: Probabilities
    as_of_position: int
    input_notification_ids: tuple[int, ...]

    @classmethod
    def of(cls, position: int, event: FixtureForecasts.ForecastIssued) -> RecordedForecast:
        return cls(
            position,
            event.fixture_id,
            event.trigger,
            event.model_id,
            event.artifact_hash,
            dict(event.features),
            tuple(event.probabilities),
            event.as_of_position,
            tuple(event.input_notification_ids),
        )


@dataclass(frozen=True)
class Mismatch:
    position: int
    fixture_id: UUID
    model_id: str
    recorded: Probabilities
    rederived: Probabilities | None
    reason: str


@dataclass
class RederivationReport:
    checked: int = 0
    artifacts: int = 0
    mismatches: list[Mismatch] | None = None

    @property
    def ok(self) -> bool:
        return not self.mismatches


async def recorded_forecasts(
    nc: NATS,
    stream: str,
    *,
    fixtures: set[UUID] | None = None,
    first: int = 1,
    last: int | None = None,
    on_page: Progress | None = None,
) -> list[RecordedForecast]:
    mapper = domain_mapper()
    layout = SubjectLayout(stream)
    out = []
    async for page in pages(
        nc, stream, subject=layout.events, start_seq=first, up_to_seq=last, on_page=on_page
    ):
        for record in page:
            if not is_event(record) or b"probabilities" not in record.data:
                continue
            event = decode(mapper, layout, record)
            if not isinstance(event, FixtureForecasts.ForecastIssued):
                continue
            if fixtures is None or event.fixture_id in fixtures:
                out.append(RecordedForecast.of(record.seq, event))
    return out


# How far a recorded in-play row's derived columns (base probabilities, remaining goals) may be
# from the same state's row made in another batch: they differ by up to ~3e-8.
ROW_TOLERANCE = 1e-6

Rescorer = Callable[[bytes, Sequence[RecordedForecast]], list[Probabilities]]


def _football(artifact: bytes, forecasts: Sequence[RecordedForecast]) -> list[Probabilities]:
    model = LoadedModel.from_bytes(artifact)
    # A league fixture nobody quoted records its results-only row (no market columns): the
    # artifact's market-free model forecast it.
    free = [i for i, f in enumerate(forecasts) if "market_home" not in f.features]
    quoted = [i for i, f in enumerate(forecasts) if "market_home" in f.features]
    out: dict[int, Probabilities] = {}
    if quoted:
        rows = [FootballFeatures(**forecasts[i].features) for i in quoted]
        out.update(zip(quoted, model.predict_many(rows), strict=True))
    if free:
        results = [ResultsFeatures(**forecasts[i].features) for i in free]
        out.update(zip(free, model.predict_market_free(results), strict=True))
    return [out[i] for i in range(len(forecasts))]


def _inplay(artifact: bytes, forecasts: Sequence[RecordedForecast]) -> list[Probabilities]:
    model = LoadedInPlayModel.from_bytes(artifact)
    kickoffs = {i for i, f in enumerate(forecasts) if "elo_expected_score" in f.features}
    out: dict[int, Probabilities] = {}
    for i in kickoffs:  # a market-free kick-off forecast: the Elo prior, the artifact's peak
        features = forecasts[i].features
        # Written before the prior's logit scale was fitted: a scale of 1.
        scale = features.get("elo_scale", 1.0)
        if (features["draw_peak"], scale) != (model.draw_peak, model.elo_scale):
            raise ValueError(
                f"the kick-off forecast at {forecasts[i].position} names another calibration"
            )
        out[i] = one_x_two(features["elo_expected_score"], model.draw_peak, scale)
    live = [f for i, f in enumerate(forecasts) if i not in kickoffs]
    live_index = [i for i in range(len(forecasts)) if i not in kickoffs]
    out.update(zip(live_index, _inplay_states(model, live), strict=True))
    return [out[i] for i in range(len(forecasts))]


def _inplay_states(
    model: LoadedInPlayModel, forecasts: Sequence[RecordedForecast]
) -> list[Probabilities]:
    if not forecasts:
        return []
    recorded = np.array([[f.features[n] for n in FEATURE_NAMES] for f in forecasts])
    # The row's expected goals are solved (Newton, to 1e-9 on the prior) for every row of a
    # call at once, so their last bits depend on what else the forecaster drafted in that call:
    # the row must follow its state to well within that, and the model is asked with the row
    # recorded, which gives its probabilities bit for bit whatever the batch.
    rows = feature_matrix([_match_state(f.features) for f in forecasts])
    follows = np.isclose(rows, recorded, rtol=0.0, atol=ROW_TOLERANCE).all(axis=1)
    for f, ok in zip(forecasts, follows, strict=True):
        if not ok:
            raise ValueError(f"the recorded in-play row at {f.position} does not follow its state")
    return [(float(h), float(d), float(a)) for h, d, a in model.model.predict_rows(recorded)]


def _match_state(features: dict[str, float]) -> MatchState:
    """The state a recorded in-play row was made from (the rest of the row derives from it)."""
    return MatchState(
        minute=int(features["minute"]),
        home_goals=int(features["home_goals"]),
        away_goals=int(features["away_goals"]),
        home_reds=int(features["home_reds"]),
        away_reds=int(features["away_reds"]),
        prior=(features["prior_home"], features["prior_draw"], features["prior_away"]),
    )


def _nba(artifact: bytes, forecasts: Sequence[RecordedForecast]) -> list[Probabilities]:
    models = LoadedNbaModels.from_bytes(artifact)
    out: dict[int, Probabilities] = {}
    pregame = [(i, f) for i, f in enumerate(forecasts) if "quarter" not in f.features]
    quarters = [(i, f) for i, f in enumerate(forecasts) if "quarter" in f.features]
    # A game nobody quoted records no market columns (NaN, left out): the market-free model's.
    quoted = [(i, f) for i, f in pregame if "market_logit" in f.features]
    unquoted = [(i, _nba_row(f.features)) for i, f in pregame if "market_logit" not in f.features]
    if quoted:
        homes = models.predict_pregame([NbaFeatures(**f.features) for _, f in quoted])
        out.update((i, (h, 1.0 - h)) for (i, _), h in zip(quoted, homes, strict=True))
    if unquoted:
        homes = models.predict_market_free([row for _, row in unquoted])
        out.update((i, (h, 1.0 - h)) for (i, _), h in zip(unquoted, homes, strict=True))
    if quarters:
        states = [
            NbaQuarterState(
                quarter=int(f.features["quarter"]),
                home_lead=int(f.features["home_lead"]),
                pregame_home=f.features["pregame_home"],
            )
            for _, f in quarters
        ]
        homes = models.predict_inplay(states)
        out.update((i, (h, 1.0 - h)) for (i, _), h in zip(quarters, homes, strict=True))
    return [out[i] for i in range(len(forecasts))]


def _nba_row(features: dict[str, float]) -> NbaFeatures:
    return NbaFeatures(**{name: features.get(name, math.nan) for name in NbaFeatures.names()})


# Each artifact kind by its leading magic bytes (infra/forecasting/*model_file.py). A new
# kind of artifact needs its rescorer here, or its forecasts are reported as not re-derivable.
RESCORERS: dict[bytes, Rescorer] = {
    b"SPORTCAST-MODEL-2\n": _football,
    b"SPORTCAST-MODEL-3\n": _football,
    b"SPORTCAST-INPLAY-1\n": _inplay,
    b"SPORTCAST-INPLAY-2\n": _inplay,
    b"SPORTCAST-INPLAY-3\n": _inplay,
    b"SPORTCAST-NBA-1\n": _nba,
    b"SPORTCAST-NBA-2\n": _nba,
}


def rescorer_for(artifact: bytes) -> Rescorer:
    for magic, rescorer in RESCORERS.items():
        if artifact.startswith(magic):
            return rescorer
    raise ValueError(f"unknown kind of model artifact (starts {artifact[:24]!r})")


async def fetch_artifacts(
    nc: NATS, bucket: str, hashes: Iterable[str]
) -> dict[str, bytes | ArtifactIntegrityError]:
    """Each artifact's verified bytes, or the integrity error of one whose bytes changed (a
    finding against its forecasts); a missing artifact stops the audit (artifact-missing)."""
    store = ArtifactStore(nc.jetstream(), bucket=bucket)
    out: dict[str, bytes | ArtifactIntegrityError] = {}
    for artifact_hash in sorted(set(hashes)):
        try:
            out[artifact_hash] = await store.get(artifact_hash)
        except ArtifactIntegrityError as error:
            out[artifact_hash] = error
        except ArtifactError as error:
            raise ArtifactMissing(str(error)) from None
    return out


def rederive(
    forecasts: Sequence[RecordedForecast],
    artifacts: dict[str, bytes | ArtifactIntegrityError],
    *,
    on_batch: Progress | None = None,
) -> RederivationReport:
    """Re-derive ``forecasts`` (grouped by artifact: one model call per group)."""
    groups: dict[str, list[RecordedForecast]] = defaultdict(list)
    for f in forecasts:
        groups[f.artifact_hash].append(f)
    report = RederivationReport(checked=0, artifacts=len(groups), mismatches=[])
    assert report.mismatches is not None
    for artifact_hash, group in groups.items():
        artifact = artifacts[artifact_hash]
        try:
            if isinstance(artifact, ArtifactIntegrityError):
                raise artifact
            got = rescorer_for(artifact)(artifact, group)
        except (ValueError, TypeError, KeyError, ArtifactIntegrityError) as error:
            reason = f"cannot be re-derived with artifact {artifact_hash[:12]}: {error!r}"
            report.mismatches.extend(_mismatch(f, None, reason) for f in group)
        else:
            for f, p in zip(group, got, strict=True):
                rederived = tuple(float(x) for x in p)
                if rederived != f.probabilities:
                    report.mismatches.append(_mismatch(f, rederived, "probabilities differ"))
        report.checked += len(group)
        if on_batch is not None:
            on_batch(len(group))
    return report


def _mismatch(f: RecordedForecast, rederived: Probabilities | None, reason: str) -> Mismatch:
    return Mismatch(f.position, f.fixture_id, f.model_id, f.probabilities, rederived, reason)


def mismatch_json(m: Mismatch) -> dict[str, Any]:
    return {
        "position": m.position,
        "fixture_id": str(m.fixture_id),
        "model_id": m.model_id,
        "recorded": list(m.recorded),
        "rederived": list(m.rederived) if m.rederived is not None else None,
        "reason": m.reason,
    }
