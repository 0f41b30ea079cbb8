"""Appending one save: plan its messages, publish them, retry through faults, resolve doubts.

Guarantees (docs/adr/0004): each aggregate's first new event expects the aggregate subject's
last sequence to be the known head (0 for a new aggregate), so two writers of one version cannot
both win; several messages go in one atomic batch; a retry after an unanswered publish that
meets a conflict looks for its own Nats-Msg-Id before reporting one, so a retried publish never
stores an event twice and never reports a false conflict. The same holds when the conflict is
seen before sending: what the writer knows when it re-plans (a head re-read, a position read by
``read_tracking``) may be the unanswered attempt itself, stored all the same.

A save that records a tracking position also expects the whole stream's last sequence to be the
one up to which this writer knows every recorded position (``TrackingState.through``). That
lets a one-event process save carry its position on the event message itself - one plain
publish instead of a two-message atomic batch - and still lets no second writer record a
position it has not seen: anything stored in between fails the expectation.

The common save - one message, heads known, our publish connection up - is planned, sent and
settled with callbacks only (:meth:`Appender.start`); everything else runs :meth:`_append` as
a task.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import nats.errors
from eventsourcing.persistence import StoredEvent, Tracking

from infra.eventstore.coalescer import BatchCoalescer
from infra.eventstore.errors import (
    ConcurrencyConflict,
    EventStoreUnavailable,
    EventTooLarge,
    TrackingConflict,
)
from infra.eventstore.heads import Head, Heads, TrackingState
from infra.eventstore.plan import EventsByAggregate, Plan, plan_save, validate
from infra.eventstore.publish import (
    DUPLICATE_MSG_ID_IN_BATCH,
    EXPECTED_LAST_SUBJECT_SEQUENCE,
    Channel,
    PublishRejected,
    parse_ack,
    publish_one,
)
from infra.eventstore.reader import DirectReader
from infra.eventstore.records import (
    HASH,
    MSG_ID,
    VERSION,
)
from infra.eventstore.subjects import SubjectLayout
from infra.eventstore.tracking import Turn, read_tracking_state
from infra.eventstore.wire_publish import NoResponders, PayloadTooLarge, PublishConnectionLost

log = logging.getLogger("sportcast.eventstore")

# Faults after which a publish may or may not have been stored.
_TRANSPORT_ERRORS = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    asyncio.TimeoutError,
    PublishConnectionLost,
    NoResponders,
)

Done = Callable[[list[int] | None, BaseException | None], None]


class Appender:
    def __init__(
        self,
        channel: Channel,
        reader: DirectReader,
        layout: SubjectLayout,
        *,
        chain_key: bytes,
        save_timeout: float,
    ) -> None:
        self._channel = channel
        self._reader = reader
        self._layout = layout
        self._key = chain_key
        self._save_timeout = save_timeout
        self._attempt_timeout = min(2.0, save_timeout)
        self._heads = Heads()
        self._tracking: dict[str, TrackingState] = {}
        self._turn = Turn()
        self._batches = BatchCoalescer(channel, timeout=self._attempt_timeout)
        # Save ids (the Nats-Msg-Id stem): a random 96-bit prefix per appender and a counter,
        # as unique as uuid4 per save without an os.urandom call per save.
        self._save_prefix = secrets.token_hex(12)
        self._save_counter = itertools.count(1)
        self._traces: dict[str, Mapping[str, str]] = {}  # save id -> trace context headers

    def remember(self, subject: str, head: Head) -> None:
        self._heads.advance(subject, head)

    def known_head(self, subject: str) -> Head | None:
        return self._heads.get(subject)

    def _new_save_id(self) -> str:
        return f"{self._save_prefix}{next(self._save_counter):08x}"

    # -- the callback path ----------------------------------------------------------------

    def start(
        self,
        events: Sequence[StoredEvent],
        tracking: Tracking | None,
        done: Done,
        *,
        trace: Mapping[str, str] | None = None,
    ) -> None:
        """Begin a save on the loop; ``done`` gets its sequences or its error, once.
        ``trace``: headers every message of the save carries (the W3C trace context), outside
        what the hash chain covers."""
        try:
            by_aggregate = self._validate(events, tracking)
        except Exception as exc:
            done(None, exc)
            return
        save_id = self._new_save_id()
        if trace:
            self._traces[save_id] = trace
            done = self._forgetting_trace(save_id, done)
        wire = self._channel.usable_wire()
        one_message = len(events) == 1 or (not events and tracking is not None)
        if (
            wire is None
            or not one_message
            or (tracking is not None and tracking.application_name not in self._tracking)
        ):
            self._continue(by_aggregate, tracking, save_id, done)
            return
        if tracking is not None and not self._turn.try_take():
            self._continue(by_aggregate, tracking, save_id, done)  # waits for the turn
            return
        has_turn = tracking is not None

        def finish(seqs: list[int] | None, error: BaseException | None) -> None:
            if has_turn:
                self._turn.give_back()
            done(seqs, error)

        try:
            plan = self._plan(save_id, by_aggregate, tracking)
            message = plan.messages[0]
            header = message.header_block()
        except Exception as exc:
            finish(None, exc)
            return

        def on_reply(reply: bytes | None, error: BaseException | None) -> None:
            if error is not None:
                if isinstance(error, _TRANSPORT_ERRORS):  # stored or not: find out
                    self._continue(
                        by_aggregate,
                        tracking,
                        save_id,
                        done,
                        maybe_stored=True,
                        turn=has_turn,
                        sent=plan,
                    )
                else:
                    finish(None, error)
                return
            assert reply is not None
            try:
                seq = parse_ack(reply)[0]
            except PublishRejected as rejected:
                if rejected.is_wrong_last_sequence:  # our heads were old: read, check again
                    self._continue(
                        by_aggregate, tracking, save_id, done, refresh=True, turn=has_turn
                    )
                else:
                    finish(None, rejected)
                return
            except Exception as exc:
                finish(None, exc)
                return
            try:
                self._advance(plan, [seq])
            except Exception:  # stored all the same; stale heads only cost a re-read later
                log.exception("could not remember the heads of a stored save")
            finish([seq], None)

        try:
            wire.request(
                message.subject,
                header,
                message.data,
                wait=self._attempt_timeout,
                on_reply=on_reply,
            )
        except PublishConnectionLost:  # nothing was sent: nats-py takes it
            self._continue(by_aggregate, tracking, save_id, done, turn=has_turn)
        except PayloadTooLarge as exc:
            finish(None, EventTooLarge(str(exc)))
        except Exception as exc:  # nothing was sent
            finish(None, exc)

    def _continue(
        self,
        by_aggregate: EventsByAggregate,
        tracking: Tracking | None,
        save_id: str,
        done: Done,
        *,
        maybe_stored: bool = False,
        refresh: bool = False,
        turn: bool = False,
        sent: Plan | None = None,
    ) -> None:
        """Finish the save as a task (reads, batches, retries), then call ``done``.
        ``sent``: the plan already published, unanswered (it may have been stored)."""
        task = asyncio.get_running_loop().create_task(
            self._append(
                by_aggregate,
                tracking,
                save_id,
                maybe_stored=maybe_stored,
                refresh=refresh,
                conflicts=int(refresh),
                has_turn=turn,
                sent=sent,
            )
        )

        def settle(task: asyncio.Task[list[int]]) -> None:
            if task.cancelled():
                done(None, EventStoreUnavailable("the save was cancelled (link closing)"))
            elif (error := task.exception()) is not None:
                done(None, error)
            else:
                done(task.result(), None)

        task.add_done_callback(settle)

    # -- the task path --------------------------------------------------------------------

    async def append(
        self, events: Sequence[StoredEvent], tracking: Tracking | None = None
    ) -> list[int]:
        by_aggregate = self._validate(events, tracking)
        return await self._append(by_aggregate, tracking, self._new_save_id())

    async def _append(
        self,
        by_aggregate: EventsByAggregate,
        tracking: Tracking | None,
        save_id: str,
        *,
        maybe_stored: bool = False,  # an earlier attempt went unanswered
        refresh: bool = False,
        conflicts: int = 0,
        has_turn: bool = False,
        sent: Plan | None = None,
    ) -> list[int]:
        if tracking is not None and not has_turn:
            await self._turn.take()
            has_turn = True
        try:
            return await self._attempts(
                by_aggregate,
                tracking,
                save_id,
                maybe_stored=maybe_stored,
                refresh=refresh,
                conflicts=conflicts,
                sent=[] if sent is None else [sent],
            )
        finally:
            if has_turn:
                self._turn.give_back()

    async def _attempts(
        self,
        by_aggregate: EventsByAggregate,
        tracking: Tracking | None,
        save_id: str,
        *,
        maybe_stored: bool,
        refresh: bool,
        conflicts: int,
        sent: list[Plan],
    ) -> list[int]:
        """``sent``: the plans published so far; any of them may have been stored unanswered
        (their expectations can differ when heads were re-read between attempts)."""
        deadline = time.monotonic() + self._save_timeout
        while True:
            await self._prepare(by_aggregate, tracking, refresh=refresh)
            try:
                try:
                    plan = self._plan(save_id, by_aggregate, tracking)
                except (ConcurrencyConflict, TrackingConflict):
                    # What this writer knows now may be this very save: an attempt that went
                    # unanswered, was stored all the same and has been read since (a head, or
                    # the position read by ``read_tracking``, e.g. a status poll). That is
                    # success with the stored ids; anything else is a real conflict.
                    found = await self._find_own(sent) if maybe_stored else None
                    if found is None:
                        raise
                    self._advance(*found)
                    return found[1]
                sent.append(plan)
                if len(plan.messages) == 1:
                    message = plan.messages[0]
                    timeout = self._attempt_timeout
                    seqs = [await publish_one(self._channel, message, ack_wait=timeout)]
                else:
                    # A batch that expects the stream's last sequence must not follow others.
                    seqs = await self._batches.commit(plan.messages, alone=tracking is not None)
            except PublishRejected as rejected:
                duplicate = rejected.err_code == DUPLICATE_MSG_ID_IN_BATCH
                if not (rejected.is_wrong_last_sequence or duplicate):
                    if maybe_stored and time.monotonic() < deadline:
                        continue  # e.g. a batch cut short by a reconnect: send it again
                    raise
                if maybe_stored or duplicate:
                    found = await self._find_own(sent)
                    if found is not None:
                        self._advance(*found)
                        return found[1]
                conflicts += 1
                # A real clash shows up when the fresh heads are checked (``_plan_now``);
                # a save recording a position also meets every other write to the stream,
                # so it keeps trying for as long as a save may take.
                if conflicts > 5 and (tracking is None or time.monotonic() >= deadline):
                    raise ConcurrencyConflict(f"save kept conflicting: {rejected}") from rejected
                refresh = True  # our heads were old: read them and check again
                continue
            except _TRANSPORT_ERRORS as exc:
                maybe_stored = True
                if time.monotonic() >= deadline:
                    raise EventStoreUnavailable(
                        f"NATS did not acknowledge the save within {self._save_timeout:.0f}s "
                        f"({type(exc).__name__}); it was stored entirely or not at all"
                    ) from exc
                await asyncio.sleep(0.05)
                continue
            except PayloadTooLarge as exc:
                raise EventTooLarge(str(exc)) from exc
            self._advance(plan, seqs)
            return seqs

    async def _prepare(
        self,
        by_aggregate: EventsByAggregate,
        tracking: Tracking | None,
        *,
        refresh: bool,
    ) -> None:
        """Read what planning needs and is not known (or, after a refusal, may be old)."""
        reads: list[Awaitable[object]] = (
            [self._read_head(s) for s in by_aggregate] if refresh else []
        )
        if tracking is not None and (refresh or tracking.application_name not in self._tracking):
            reads.append(self.read_tracking(tracking.application_name))
        if reads:
            await asyncio.gather(*reads)

    # -- planning -------------------------------------------------------------------------

    def _validate(
        self, events: Sequence[StoredEvent], tracking: Tracking | None
    ) -> EventsByAggregate:
        return validate(events, tracking, self._layout, max_payload=self._channel.nc.max_payload)

    def _plan(
        self, save_id: str, by_aggregate: EventsByAggregate, tracking: Tracking | None
    ) -> Plan:
        state = None if tracking is None else self._tracking[tracking.application_name]
        plan = plan_save(
            save_id,
            by_aggregate,
            tracking,
            heads=self._heads,
            state=state,
            layout=self._layout,
            key=self._key,
        )
        trace = self._traces.get(save_id)
        if trace:
            for message in plan.messages:
                for name, value in trace.items():
                    message.add_header(name, value)
        return plan

    def _forgetting_trace(self, save_id: str, done: Done) -> Done:
        def forget(seqs: list[int] | None, error: BaseException | None) -> None:
            self._traces.pop(save_id, None)
            done(seqs, error)

        return forget

    # -- reading what a save must expect --------------------------------------------------

    async def _read_head(self, subject: str) -> None:
        last = await self._reader.last(subject)
        if last is not None:
            self._heads.advance(
                subject, Head(int(last.headers[VERSION]), last.seq, last.headers[HASH])
            )

    async def read_tracking(self, application_name: str) -> TrackingState:
        """What ``application_name`` has recorded, read afresh and remembered for saves."""
        state = await read_tracking_state(self._reader, self._layout, application_name)
        known = self._tracking.get(application_name)
        if known is None or known.through <= state.through:
            self._tracking[application_name] = state
        return state

    async def _find_own(self, plans: list[Plan]) -> tuple[Plan, list[int]] | None:
        """The attempt (of those sent, ``plans``) that stored this save unanswered, and its
        sequences; None if none did. Message ids are the save's own (save id and index), so a
        match is this save and nobody else's."""
        looked: set[tuple[str, int]] = set()
        for plan in reversed(plans):
            first = plan.messages[0]
            expected = int(first.headers.get(EXPECTED_LAST_SUBJECT_SEQUENCE, "0"))
            if (first.subject, expected) in looked:
                continue
            looked.add((first.subject, expected))
            found = await self._reader.next_after(first.subject, expected)
            if found is not None and found.headers.get(MSG_ID) == first.headers[MSG_ID]:
                # An atomic batch is stored at consecutive sequences, in the order it was sent.
                return plan, list(range(found.seq, found.seq + len(plan.messages)))
        return None

    def _advance(self, plan: Plan, seqs: list[int]) -> None:
        for message, seq in zip(plan.messages, seqs, strict=True):
            planned = plan.heads.get(message.subject)
            if planned is not None and message.headers[HASH] == planned.hash:
                self._heads.advance(message.subject, Head(planned.version, seq, planned.hash))
        tracking = plan.tracking
        if tracking is not None:
            known = self._tracking.get(tracking.application_name)
            subject_seq = seqs[-1] if plan.tracking_subject else (known.subject_seq if known else 0)
            # The save expected the stream's last sequence: nothing else lies in between.
            self._tracking[tracking.application_name] = TrackingState(
                tracking.notification_id, subject_seq, seqs[-1]
            )
