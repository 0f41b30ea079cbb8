"""The forecaster: an exactly-once process that follows the feed and issues forecasts.

It learns from every feed event it follows (ratings, form, market history: all from events) and
issues a ForecastIssued event whenever a 1X2 quote arrives for an upcoming football fixture
(the opening quote, every later move, the closing quote), an in-play one on each goal, card or
end of a half of a started football fixture when an in-play model is loaded, and re-issues the
upcoming fixtures' forecasts when a new model is promoted. With NBA models loaded, every
moneyline quote before tip-off and the end of quarters 1-3 issue an NBA forecast
(forecasting/nba/live.py).

Exactly once (docs/adr/0009): every save of forecasts also records a tracking position (its
triggers' own, or the unit's last event's), so a crash between the two is impossible. An event
that gives no forecast is learnt without any write; the position alone is written every
``track_every_events`` events or ``track_every_seconds`` (and by :meth:`flush_tracking` when the
feed goes quiet). After a crash the runner replays the feed up to the tracked position through
:meth:`learn` (issuing nothing) and carries on: events after it gave no forecast, or their
forecast's save would have moved the tracked position past them, and re-learning them is
deterministic.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.persistence import JSONTranscoder, OperationalError, Tracking
from eventsourcing.projection import EventSourcedProjection
from eventsourcing.utils import get_topic

from commands.following import FollowedEventFailed
from commands.forecasting.drafts import (
    MODEL_PROMOTED,
    Draft,
    ForecastModel,
    InPlayDraft,
    InPlayForecastModel,
    KickOffDraft,
    MarketFreeDraft,
    NbaForecastModels,
    PreMatchDraft,
    issue_drafts,
    nba_draft,
)
from commands.transcodings import register_domain_transcodings
from domain.fixture import Fixture
from domain.forecast import FixtureForecasts, forecasts_id
from domain.odds_book import OddsBook
from forecasting.errors import ForecastingInputError
from forecasting.football.features import FeatureBuilder
from forecasting.football.from_events import InputTranslator, Quote
from forecasting.football.inputs import OddsOpened
from forecasting.football.market_free import ResultsFeatures
from forecasting.inplay.live_matches import FootballKickOff, InMatchMoment, LiveMatches
from forecasting.inplay.model import TRAINED_PRIOR, EloPriors, one_x_two
from forecasting.nba.live import NbaGames, NbaMoment, NbaOutcome, NbaPreGame

__all__ = ["FOLLOWED_EVENTS", "MODEL_PROMOTED", "ForecastModel", "Forecaster"]
__all__ += ["InPlayForecastModel", "NbaForecastModels"]

log = logging.getLogger("sportcast.forecaster")

# What learn() reads; every other feed event (command receipts above all) can be skipped unread.
FOLLOWED_EVENTS: tuple[type, ...] = (
    Fixture.Scheduled,
    Fixture.Rescheduled,
    Fixture.Started,
    Fixture.GoalScored,
    Fixture.CardShown,
    Fixture.PeriodEnded,
    Fixture.Finished,
    Fixture.Abandoned,
    OddsBook.Opened,
    OddsBook.OddsQuoted,
)
# One atomic save holds at most 1,000 messages; a fixture's forecast is one (the first one opens
# its stream), so a re-issue is saved in chunks of this many fixtures, well within that.
REISSUE_CHUNK = 300
# A stream opens with its first forecast; streams written before that open with Opened.
_STREAM_OPENINGS = (
    get_topic(FixtureForecasts.FirstForecastIssued),
    get_topic(FixtureForecasts.Opened),
)
_PAGE = 5000
# Results a competition needs before its fixtures nobody quoted get the market-free league
# model (goal rates) rather than the Elo prior: a season of a small league (GoalRatings'
# `established_after`); a World Cup edition has 64 matches.
LEAGUE_HISTORY = 100


class Forecaster(EventSourcedProjection[UUID]):
    name = "forecaster"
    topics = tuple(get_topic(cls) for cls in FOLLOWED_EVENTS)

    def __init__(
        self,
        env: Any = None,
        *,
        model: ForecastModel | None = None,
        inplay_model: InPlayForecastModel | None = None,
        nba_models: NbaForecastModels | None = None,
        track_every_events: int = 1000,
        track_every_seconds: float = 1.0,
        pipeline_saves: bool = False,
        single_saves_up_to: int = 4,
        fit_when_quiet: bool = False,
    ) -> None:
        super().__init__(env)
        if track_every_events < 1 or track_every_seconds <= 0:
            raise ValueError("tracking must be written every >= 1 events and > 0 seconds")
        self.model = model
        self.inplay_model = inplay_model
        self.nba_models = nba_models
        self.track_every_events = track_every_events
        self.track_every_seconds = track_every_seconds
        self.single_saves_up_to = single_saves_up_to
        # A league's Poisson strengths are refitted when a result arrives, off the forecast
        # path; ``fit_when_quiet``: when the runner finds the feed quiet (refresh_fits) or a
        # quote asks first, so a burst of results costs one fit per league, not per result.
        self.fit_when_quiet = fit_when_quiet
        self.on_stored: Callable[[Sequence[object]], None] | None = None
        """Called with each save's events once stored (in the thread that stored them)."""
        # Saves, the model and the state they read change under this lock: one unit at a time.
        self._lock = threading.RLock()
        self._start_learning()
        self.tracking_writes = 0
        # Pipelined, a unit is stored on this thread while the next is processed.
        self._saver = (
            ThreadPoolExecutor(1, thread_name_prefix="forecaster-save") if pipeline_saves else None
        )
        self._in_flight: Future[None] | None = None
        self.inplay_skipped = 0  # in-match moments while no in-play model was loaded

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_domain_transcodings(transcoder)

    def _start_learning(self) -> None:
        """The state learnt from the feed, empty (at creation, and when it is learnt again)."""
        self.translator = InputTranslator()
        self.builder = FeatureBuilder(strict=False, fit_on_result=not self.fit_when_quiet)
        self.matches = LiveMatches()
        # Market-free 1X2 prior for football fixtures nobody quotes (World Cups): Elo over the
        # results finished so far, per competition pool, kept current from Finished events.
        self.free_prior = EloPriors()
        self.nba = NbaGames()
        self._inputs: dict[UUID, list[int]] = {}  # each fixture's announcement, opening odds
        self._last_quote: dict[UUID, tuple[Quote, int]] = {}  # latest pre-match 1X2 and its id
        self._not_started: set[UUID] = set()  # quoted before kick-off, not seen starting
        # This process is the only writer of its forecast streams, so what it saved is current;
        # which streams exist is read once, so a fixture's first forecast needs no read.
        self._forecast_streams: dict[UUID, FixtureForecasts] = {}
        self._existing_streams: set[UUID] | None = None
        self._done_streams: list[UUID] = []  # fixtures over: their streams leave the cache
        self._position = 0  # the last feed notification processed
        self._untracked: Tracking | None = None  # processed, its position not yet written
        self._untracked_count = 0
        self._untracked_since = 0.0

    def relearn(self, events: Iterable[tuple[int, object]], position: int) -> None:
        """Forget everything learnt and learn ``events`` (the followed feed events up to
        ``position``, the tracked one) again, issuing nothing: the state a start builds, and
        what resuming after a failed event needs (the failed unit may have been learnt in part,
        docs/adr/0017). A save still in flight is waited for; its failure is already recorded
        by whoever saw it. Promotions wait meanwhile (they read this state)."""
        with self._lock:
            with contextlib.suppress(Exception):
                self._wait_saved()
            self._in_flight = None
            self._start_learning()
            # Relearning, the leagues' Poisson strengths are fitted once at the end rather than
            # after every result: the same strengths (a pure function of the results), a
            # quarter of the CPU (benchmarks/bench_features.py).
            self.builder.fit_on_result = False
            try:
                for notification_id, event in events:
                    self.learn(event, notification_id)
                self.builder.refresh_fits()
            finally:
                self.builder.fit_on_result = not self.fit_when_quiet
            self.advance(position)

    @property
    def fits_due(self) -> bool:
        """Results were learnt since the last :meth:`refresh_fits`."""
        return self.builder.fits_due

    def refresh_fits(self) -> None:
        """Fit the leagues' Poisson strengths on the results learnt since the last fit, so the
        next quote's forecast does not (with ``fit_when_quiet``, its runner calls this when the
        feed is quiet). The fit is a pure function of the results: when it runs changes no
        forecast."""
        with self._lock:
            self.builder.refresh_fits()

    # -- models ---------------------------------------------------------------------------

    def use_model(self, model: ForecastModel) -> None:
        """Switch models between two events: no pause, no event processed half by each."""
        with self._lock:
            self.model = model

    def use_inplay_model(self, model: InPlayForecastModel | None) -> None:
        with self._lock:
            self.inplay_model = model

    def use_nba_models(self, models: NbaForecastModels | None) -> None:
        with self._lock:
            self.nba_models = models

    def promotion_position(self, application_name: str) -> int:
        """The last promotion (a notification of ``application_name``) acted on."""
        return self.recorder.max_tracking_id(application_name) or 0

    def promote(
        self,
        model: ForecastModel | None,
        promotion: Tracking,
        *,
        nba_models: NbaForecastModels | None = None,
        inplay_model: InPlayForecastModel | None = None,
    ) -> int:
        """Switch to newly promoted models (those given) and re-issue with each the forecasts
        it makes (trigger ``model-promoted``) of every fixture whose latest is another model's:
        football 1X2 for upcoming fixtures, NBA for upcoming games (their last pre-game moment)
        and games in play (their last quarter end), in-play football for matches in play (their
        last state). Returns how many were re-issued.

        Exactly once: the re-issue's last chunk is saved atomically with the promotion's position
        (``promotion``), and a promotion at or before the tracked one is not acted on again; a
        fixture whose latest forecast is already this model's is skipped, so a crash between two
        chunks re-issues only the rest, and a forecast just issued by this model is not repeated."""
        with self._lock:
            if model is not None:
                self.model = model
            if nba_models is not None:
                self.nba_models = nba_models
            if inplay_model is not None:
                self.inplay_model = inplay_model
            self._wait_saved()
            if self.promotion_position(promotion.application_name) >= promotion.notification_id:
                return 0
            due = [
                *([] if model is None else self._reissue_drafts(model)),
                *([] if nba_models is None else self._reissue_nba(nba_models)),
                *([] if inplay_model is None else self._reissue_inplay(inplay_model)),
            ]
            chunks = [due[i : i + REISSUE_CHUNK] for i in range(0, len(due), REISSUE_CHUNK)]
            for i, chunk in enumerate(chunks or [[]]):
                last = i == max(len(chunks), 1) - 1
                processing = ProcessingEvent[UUID](tracking=promotion if last else None)
                self._issue(chunk, processing)
                self._save([processing])
            return len(due)

    def _reissue_drafts(self, model: ForecastModel) -> list[Draft]:
        """Upcoming fixtures whose latest forecast is another model's, forecast again."""
        due: list[Draft] = []
        for fixture_id in sorted(self._not_started):
            if not self._latest_by_another(fixture_id, model.model_id):
                continue
            quote, quote_id = self._last_quote[fixture_id]
            draft = self._prematch_draft(quote, quote_id, reissue=True)
            if draft is not None:
                due.append(draft)
        return due

    def _reissue_nba(self, models: NbaForecastModels) -> list[Draft]:
        due: list[Draft] = []
        for moment in self.nba.latest():
            model_id = models.pregame_id if isinstance(moment, NbaPreGame) else models.inplay_id
            if not self._latest_by_another(moment.fixture_id, model_id):
                continue
            draft = nba_draft(moment, models, reissue=True, as_of_position=self._position)
            if draft is not None:
                due.append(draft)
        return due

    def _reissue_inplay(self, model: InPlayForecastModel) -> list[Draft]:
        due: list[Draft] = []
        for moment in self.matches.latest():
            if not self._latest_by_another(moment.fixture_id, model.model_id):
                continue
            draft = self._inplay_draft(moment, reissue=True)
            if draft is not None:
                due.append(draft)
        return due

    def _latest_by_another(self, fixture_id: UUID, model_id: str) -> bool:
        """The fixture has forecasts and its latest is not ``model_id``'s: a re-issue is due."""
        forecasts = self.forecasts(fixture_id)
        return forecasts is not None and forecasts.latest_model_id != model_id

    # -- learning -------------------------------------------------------------------------

    def learn(
        self, domain_event: object, notification_id: int
    ) -> Quote | InMatchMoment | FootballKickOff | NbaMoment | None:
        """Apply a followed event to the forecasting state; return the forecast moment it makes
        (a 1X2 quote, an in-match event of a started football fixture, an NBA moneyline quote
        or end of a quarter), if any."""
        self._position = notification_id
        nba = self.nba.learn(domain_event, notification_id)
        if nba is not None and not isinstance(nba, NbaOutcome):
            return nba
        quote = self.translator.quote(domain_event)
        translated = self.translator.translate(domain_event)
        if translated is not None:
            try:
                self.builder.apply(translated)
            except ForecastingInputError:
                return None  # e.g. an impossible opening book: nothing to learn from it
            inputs = self._inputs.setdefault(UUID(translated.fixture_id), [])
            if isinstance(translated, OddsOpened) or not inputs:
                inputs.append(notification_id)
        if quote is not None:
            announced = self.translator.fixture(quote.fixture_id)
            if announced is not None and quote.quoted_at < announced.kickoff:
                self._last_quote[quote.fixture_id] = (quote, notification_id)
                self._not_started.add(quote.fixture_id)
            return quote
        if isinstance(domain_event, Fixture.Event):
            return self._learn_fixture(domain_event, notification_id)
        return None

    def advance(self, notification_id: int) -> None:
        """A notification that is not followed: nothing to learn, the position moves on."""
        self._position = notification_id

    def _learn_fixture(
        self, event: Fixture.Event, notification_id: int
    ) -> InMatchMoment | FootballKickOff | None:
        fixture_id = event.originator_id
        announced = self.translator.fixture(fixture_id)  # None: not a football fixture
        if isinstance(event, Fixture.Started):
            self._not_started.discard(fixture_id)
            if announced is None:
                return None
            last = self._last_quote.get(fixture_id)
            if last is not None:
                self.matches.start(fixture_id, last[0].probabilities)
                return None
            # The expected score the in-play artifact in force was trained on.
            prior = TRAINED_PRIOR if self.inplay_model is None else self.inplay_model.elo_prior
            expected = self.free_prior.expected_score(
                announced.competition,
                announced.home,
                announced.away,
                prior,
                announced.venue_country,
            )
            results = self._league_row(fixture_id, announced.competition)
            self.matches.start(fixture_id, None, elo_expected=expected, results=results)
            return FootballKickOff(
                fixture_id, announced.kickoff, expected, notification_id, results
            )
        if isinstance(event, Fixture.Finished) and announced is not None:
            score = event.score
            self.free_prior.update(
                announced.competition,
                announced.home,
                announced.away,
                score.home,
                score.away,
                announced.venue_country,
            )
        if isinstance(event, Fixture.Finished | Fixture.Abandoned):
            self._not_started.discard(fixture_id)
            self._last_quote.pop(fixture_id, None)
            self._done_streams.append(fixture_id)  # evicted once this unit's drafts are issued
            self.matches.end(fixture_id)
            return None
        return self.matches.apply(event, notification_id)

    def _league_row(self, fixture_id: UUID, competition: str) -> ResultsFeatures | None:
        """The fixture's results-only row at kick-off if its competition has a rated history
        (LEAGUE_HISTORY results: a league, whose goal rates the market-free model reads);
        None at a tournament's edition, too short for goal rates, where the Elo prior
        serves."""
        if self.builder.results_recorded(competition) < LEAGUE_HISTORY:
            return None
        try:
            return self.builder.results_features(str(fixture_id))
        except ForecastingInputError:
            return None

    # -- processing -----------------------------------------------------------------------

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process([(domain_event, tracking)])

    def process(self, items: Iterable[tuple[object | None, Tracking]]) -> int:
        """Process consecutive feed notifications as one unit; ``None`` for one not followed
        (skipped unread). Their forecasts are saved with positions as :meth:`_saves` says; if
        none, the position is only remembered. Returns the forecasts issued."""
        with self._lock:
            processing = ProcessingEvent[UUID]()
            drafts: list[Draft] = []
            last: Tracking | None = None
            count = 0
            try:
                for domain_event, tracking in items:
                    last, count = tracking, count + 1
                    if domain_event is None:
                        self.advance(tracking.notification_id)
                        continue
                    draft = self._followed(domain_event, tracking.notification_id)
                    if draft is not None:
                        drafts.append(draft)
                self._scored(drafts, processing)
            except BaseException:
                self._forecast_streams.clear()  # unsaved forecasts must not be saved later
                raise
            if last is None:
                return 0
            if processing.events:
                saves = self._saves(processing, last)
                self._save(saves, wait=self._saver is None)
                tracked = saves[-1].tracking
                assert tracked is not None
                if tracked.notification_id == last.notification_id:
                    self._untracked, self._untracked_count = None, 0
                else:  # events after the unit's last forecast: their position comes later
                    self._untracked, self._untracked_count = last, count
                    self._untracked_since = time.monotonic()
                issued = FixtureForecasts.ForecastIssued
                return sum(isinstance(e, issued) for e in processing.events)
            if self._untracked is None:
                self._untracked_since = time.monotonic()
            self._untracked = last
            self._untracked_count += count
            if self._untracked_count >= self.track_every_events or (
                time.monotonic() - self._untracked_since >= self.track_every_seconds
            ):
                self._write_tracking()
            return 0

    def _followed(self, domain_event: object, notification_id: int) -> Draft | None:
        """:meth:`_draft`, a failure reported with the event's position (docs/adr/0017); a store
        outage (OperationalError: the runner retries it) goes up as it is."""
        try:
            return self._draft(domain_event, notification_id)
        except OperationalError:
            raise
        except Exception as exc:
            topic = type(domain_event).__qualname__
            raise FollowedEventFailed(notification_id, topic, exc) from exc

    def _scored(self, drafts: list[Draft], processing: ProcessingEvent[UUID]) -> None:
        """:meth:`_issue`; a unit's drafts are scored in one model call, so a failure there is
        reported at the first of their triggers."""
        try:
            self._issue(drafts, processing)
        except OperationalError:
            raise
        except Exception as exc:
            position = min(draft.as_of_position for draft in drafts) if drafts else self._position
            raise FollowedEventFailed(position, f"scoring of {len(drafts)} drafts", exc) from exc

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        tracking = processing_event.tracking
        assert tracking is not None
        draft = self._draft(domain_event, tracking.notification_id)
        self._issue([] if draft is None else [draft], processing_event)

    def flush_tracking(self) -> bool:
        """Write the position of the last event processed, if not yet written."""
        with self._lock:
            if self._untracked is None:
                return False
            self._write_tracking()
            return True

    def _write_tracking(self) -> None:
        assert self._untracked is not None
        self._wait_saved()
        self.recorder.insert_tracking(self._untracked)
        self.tracking_writes += 1
        self._untracked, self._untracked_count = None, 0

    def _saves(
        self, processing: ProcessingEvent[UUID], last: Tracking
    ) -> list[ProcessingEvent[UUID]]:
        """How a unit's forecasts are saved. A few forecasts from distinct triggers: one save
        each, tracking its trigger's position; a one-event process save is a single message
        carrying its position (ADR 0004), about a fifth of an atomic batch's time. More: one
        atomic save tracking the unit's last position."""
        # In the order of their triggers (issue_drafts gives them stream by stream): positions
        # tracked one after another must only grow, and the log shows forecasts as they came.
        processing.events.sort(key=_trigger_position)
        by_trigger: dict[int, list[Any]] = {}
        for event in processing.events:
            by_trigger.setdefault(_trigger_position(event), []).append(event)
        if len(by_trigger) > self.single_saves_up_to or any(
            len(events) > 1 for events in by_trigger.values()
        ):
            processing.tracking = last
            return [processing]
        saves = []
        for position, events in by_trigger.items():
            save = ProcessingEvent[UUID](tracking=Tracking(last.application_name, position))
            save.events.extend(events)
            save.aggregates.update(
                (e.originator_id, processing.aggregates[e.originator_id]) for e in events
            )
            saves.append(save)
        return saves

    def _save(self, saves: list[ProcessingEvent[UUID]], *, wait: bool = True) -> None:
        """Store a unit of work (its saves in order) after the one in flight. ``wait=False``
        (pipelined) returns at once: the next unit is processed while this one is stored, and a
        failure surfaces at the next save or flush. Saves stay in order, so tracked positions
        only move forward."""
        self._wait_saved()
        if self._existing_streams is not None:
            for save in saves:
                self._existing_streams.update(e.originator_id for e in save.events)
        if wait or self._saver is None:
            self._store_all(saves)
        else:
            # In the caller's context: a trace the unit runs in follows its save (contextvars).
            context = contextvars.copy_context()
            self._in_flight = self._saver.submit(context.run, self._store_all, saves)

    def _store_all(self, saves: list[ProcessingEvent[UUID]]) -> None:
        for save in saves:
            try:
                self._store(save)
            except OperationalError:
                raise  # an outage: retried as it is, not an event's fault
            except Exception as exc:  # where: the position this save would have tracked
                tracking = save.tracking
                position = tracking.notification_id if tracking is not None else self._position
                raise FollowedEventFailed(position, "save of forecasts", exc) from exc
            if self.on_stored is not None and save.events:
                self.on_stored(save.events)

    def settle(self) -> None:
        """Wait for the save in flight, if any; raise its failure."""
        with self._lock:
            self._wait_saved()

    @property
    def saving(self) -> bool:
        """Whether a pipelined save is still being stored."""
        in_flight = self._in_flight
        return in_flight is not None and not in_flight.done()

    def _wait_saved(self) -> None:
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return
        try:
            in_flight.result()
        except BaseException:
            self._forecast_streams.clear()  # a failed save may have left pending events behind
            raise

    def _store(self, processing: ProcessingEvent[UUID]) -> None:
        try:
            if processing.events:
                # The event store's public put, with the tracking position in the same atomic
                # write (what EventSourcedProjection.process_event does for one event; a unit
                # here holds many). No snapshots or in-process followers to tell.
                self.events.put(processing.events, tracking=processing.tracking)
            elif processing.tracking is not None:
                self.recorder.insert_tracking(processing.tracking)
        except BaseException:
            self._forecast_streams.clear()
            raise

    def close(self) -> None:
        with self._lock:
            try:
                self._wait_saved()
            finally:
                if self._saver is not None:
                    self._saver.shutdown()
                super().close()

    # -- forecasts ------------------------------------------------------------------------

    def draft(self, domain_event: object, notification_id: int) -> Draft | None:
        """Learn a followed event and return the forecast it triggers, unscored and unsaved
        (what the audit's rebuild of feature vectors replays)."""
        return self._draft(domain_event, notification_id)

    def _draft(self, domain_event: object, notification_id: int) -> Draft | None:
        moment = self.learn(domain_event, notification_id)
        if isinstance(moment, Quote):
            if self.model is None:
                return None
            return self._prematch_draft(moment, notification_id, reissue=False)
        if isinstance(moment, InMatchMoment):
            return self._inplay_draft(moment)
        if isinstance(moment, FootballKickOff):
            return self._kickoff_draft(moment)
        if moment is not None and self.nba_models is not None:
            return nba_draft(moment, self.nba_models, reissue=False, as_of_position=self._position)
        return None

    def _prematch_draft(self, quote: Quote, quote_id: int, *, reissue: bool) -> Draft | None:
        announced = self.translator.fixture(quote.fixture_id)
        if announced is None or quote.quoted_at >= announced.kickoff:
            return None  # an in-play quote: the in-play model forecasts on match events
        try:
            features = self.builder.features(str(quote.fixture_id))
        except ForecastingInputError:
            return None  # no opening odds yet
        inputs = self._inputs.get(quote.fixture_id, [])
        return PreMatchDraft(
            fixture_id=quote.fixture_id,
            kickoff=announced.kickoff,
            features=features,
            market=quote.probabilities,
            stage=quote.stage,
            reissue=reissue,
            as_of_position=self._position,
            inputs=tuple(dict.fromkeys([*inputs, quote_id, self._position])),
        )

    def _inplay_draft(self, moment: InMatchMoment, *, reissue: bool = False) -> Draft | None:
        if self.inplay_model is None:
            if not self.inplay_skipped:
                log.warning("no in-play model loaded: in-match events issue no forecast")
            self.inplay_skipped += 1
            return None
        announced = self.translator.fixture(moment.fixture_id)
        last = self._last_quote.get(moment.fixture_id)
        if announced is None or (last is None and moment.elo_expected is None):
            return None
        inputs = (*self._inputs.get(moment.fixture_id, []), *([] if last is None else [last[1]]))
        model = self.model
        if moment.results is not None and model is not None and model.market_free_id is not None:
            # A league fixture nobody quoted: from its market-free kick-off forecast.
            (prior,) = model.predict_market_free([moment.results])
            moment = moment.starting_from(prior)
        elif moment.elo_expected is not None:
            moment = moment.prior_for(self.inplay_model.draw_peak, self.inplay_model.elo_scale)
        return InPlayDraft(
            fixture_id=moment.fixture_id,
            kickoff=announced.kickoff,
            state=moment.state,
            as_of_position=self._position,
            inputs=tuple(dict.fromkeys([*inputs, *moment.input_notification_ids])),
            reissue=reissue,
            prior_kind=moment.prior_kind,
        )

    def _kickoff_draft(self, moment: FootballKickOff) -> Draft | None:
        """A fixture nobody quoted kicks off: its market-free pre-match forecast. In a league
        (a results-only row), the football artifact's market-free model when it has one;
        otherwise the Elo prior with the in-play model's draw peak, which needs an in-play
        model (its artifact holds the peak). Either is the prior its in-play forecasts start
        from."""
        inputs = self._inputs.get(moment.fixture_id, [])
        football = self.model
        if (
            moment.results is not None
            and football is not None
            and football.market_free_id is not None
        ):
            return MarketFreeDraft(
                fixture_id=moment.fixture_id,
                kickoff=moment.kickoff,
                results=moment.results,
                as_of_position=self._position,
                inputs=tuple(dict.fromkeys([*inputs, moment.notification_id])),
            )
        model = self.inplay_model
        if model is None:
            return None
        return KickOffDraft(
            fixture_id=moment.fixture_id,
            kickoff=moment.kickoff,
            probabilities=one_x_two(moment.elo_expected, model.draw_peak, model.elo_scale),
            elo_expected=moment.elo_expected,
            draw_peak=model.draw_peak,
            elo_scale=model.elo_scale,
            model_id=f"football-elo-prior-{model.artifact_hash[:12]}",
            artifact_hash=model.artifact_hash,
            as_of_position=self._position,
            inputs=tuple(dict.fromkeys([*inputs, moment.notification_id])),
        )

    def _issue(self, drafts: list[Draft], processing: ProcessingEvent[UUID]) -> None:
        if drafts:
            issued = issue_drafts(drafts, self.model, self.inplay_model, self, self.nba_models)
            for forecasts in issued:
                # ProcessingEvent.collect_events, without its runtime Protocol checks (slow)
                processing.events.extend(forecasts.collect_events())
                processing.aggregates[forecasts.id] = forecasts
        for fixture_id in self._done_streams:
            self._forecast_streams.pop(fixture_id, None)
        self._done_streams.clear()

    def forecasts(self, fixture_id: UUID) -> FixtureForecasts | None:
        """The fixture's forecast stream as saved (and as pending in the unit being processed),
        or None if it has no forecast yet."""
        cached = self._forecast_streams.get(fixture_id)
        if cached is not None:
            return cached
        stream_id = forecasts_id(fixture_id)
        if stream_id not in self._existing():
            return None
        try:
            found: object = self.repository.get(stream_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(found, FixtureForecasts)
        self._forecast_streams[fixture_id] = found
        return found

    def opened(self, forecasts: FixtureForecasts) -> None:
        self._forecast_streams[forecasts.fixture_id] = forecasts

    def _existing(self) -> set[UUID]:
        """The ids of the forecast streams saved (read once; then kept by this, the writer)."""
        if self._existing_streams is None:
            existing: set[UUID] = set()
            start = 1
            while True:
                page = self.recorder.select_notifications(
                    start=start, limit=_PAGE, topics=_STREAM_OPENINGS
                )
                existing.update(UUID(str(n.originator_id)) for n in page)
                if len(page) < _PAGE:
                    break
                start = page[-1].id + 1
            self._existing_streams = existing
        return self._existing_streams


def _trigger_position(event: object) -> int:
    assert isinstance(event, FixtureForecasts.ForecastIssued)
    return event.as_of_position
