"""What `sportcast replay --until` means on the logs: a position in each, with its store time.

The read models follow several logs, each a JetStream stream with its own sequence (events,
forecasts, feed_health, quarantine). A cut names one position per log:

* ``TIME`` (ISO 8601; no offset means UTC): in every log, the last message the server stored at
  or before TIME (its ``Nats-Time-Stamp``, to the microsecond).
* ``N``: the same as ``events=N``.
* ``LOG=N[,LOG=N...]``: those positions exactly; every log not named is cut at the moment the
  newest named message was stored, so ``events=N`` is the state when event N was stored.

Positions are the stream sequences every projection records (`projections status`, the ids an
ingest answer returns, `audit export`). A stream's times only grow with its sequence (the server
stamps a message as it stores it), so the last message at or before TIME is found by bisection
with Direct Get, about 20 reads per log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError

from infra.eventstore.reader import DirectReader
from projections.replay import BadRange, Cut

STORED_AT = "Nats-Time-Stamp"
_PAIR = re.compile(r"^\s*([a-z_]+)\s*=\s*(-?\d+)\s*$")


async def resolve_cut(
    nc: NATS, streams: Mapping[str, str], until: str, *, now: datetime | None = None
) -> Cut:
    """``streams``: each log's JetStream stream name, by the name projections give the log."""
    logs = {name: _Log(nc, stream) for name, stream in streams.items()}
    named = _named_positions(until, set(logs))
    if named is None:
        at = _moment(until, now or datetime.now(UTC))
        positions = {name: await log.last_at_or_before(at) for name, log in logs.items()}
    else:
        times = []
        for name, position in named.items():
            head = await logs[name].head()
            if not 0 <= position <= head:
                raise BadRange(f"{name}={position}: the {name} log holds positions 1..{head}")
            if position:
                times.append(await logs[name].stored_at(position))
        moment = max(times, default=None)
        positions = {
            name: named[name]
            if name in named
            else (await log.last_at_or_before(moment) if moment is not None else 0)
            for name, log in logs.items()
        }
    stored_at = {
        name: (await logs[name].stored_at(p) if p else None) for name, p in positions.items()
    }
    return Cut(until, positions, stored_at)


def _named_positions(until: str, known: set[str]) -> dict[str, int] | None:
    text = until.strip()
    if text.lstrip("-").isdigit():
        text = f"events={text}"
    if "=" not in text:
        return None
    named: dict[str, int] = {}
    for part in text.split(","):
        match = _PAIR.match(part)
        if match is None:
            raise BadRange(
                f"{part.strip()!r}: expected LOG=POSITION (logs: {', '.join(sorted(known))})"
            )
        name, position = match.group(1), int(match.group(2))
        if name not in known:
            raise BadRange(f"no log {name!r}; there are {', '.join(sorted(known))}")
        if name in named:
            raise BadRange(f"log {name!r} named twice")
        named[name] = position
    return named


def _moment(until: str, now: datetime) -> datetime:
    try:
        moment = datetime.fromisoformat(until.strip())
    except ValueError:
        raise BadRange(
            f"{until!r}: expected a position (N or LOG=N,...) or an ISO 8601 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment > now:
        raise BadRange(f"{until!r} is in the future (now {now.isoformat()})")
    return moment


class _Log:
    def __init__(self, nc: NATS, stream: str) -> None:
        self._nc = nc
        self._stream = stream
        self._reader: DirectReader | None = None
        self._extent: tuple[int, int] | None = None

    async def _bounds(self) -> tuple[int, int]:
        """(first, last) sequence stored; (1, 0) when the stream is empty or not made yet."""
        if self._extent is None:
            try:
                state = (await self._nc.jetstream().stream_info(self._stream)).state
                self._extent = (max(state.first_seq, 1), state.last_seq)
            except NotFoundError:
                self._extent = (1, 0)
        return self._extent

    async def head(self) -> int:
        return (await self._bounds())[1]

    async def stored_at(self, seq: int) -> datetime:
        """When the message at ``seq`` (or the next one, if it was removed) was stored."""
        if self._reader is None:
            self._reader = DirectReader(self._nc, self._stream)
            await self._reader.start()
        got = await self._reader.batch(subject=">", start_seq=seq, limit=1)
        if not got:
            raise BadRange(f"the {self._stream} stream holds nothing at or after {seq}")
        return datetime.fromisoformat(got[0].headers[STORED_AT])

    async def last_at_or_before(self, moment: datetime) -> int:
        first, last = await self._bounds()
        low, high = first - 1, last  # invariant: stored_at(low) <= moment < stored_at(high + 1)
        while low < high:
            middle = (low + high + 1) // 2
            if await self.stored_at(middle) <= moment:
                low = middle
            else:
                high = middle - 1
        return low
