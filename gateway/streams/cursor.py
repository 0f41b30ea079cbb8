"""Event ids and resume cursors.

Per-log endpoints use the event's JetStream stream sequence as its id (``1234``). ``/all``
merges two logs, so its id is a cursor ``<events_seq>-<forecasts_seq>``: the position reached
in each log when the event was sent. Successive ids grow componentwise (each part never falls,
one part rises), and resuming from a cursor means "everything after each part", so any gateway
process resumes any client exactly, whatever order it interleaved the two logs in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from readmodels.live import Log

Position = dict[Log, int]

_NUMBER = re.compile(r"[0-9]{1,19}")
_PAIR = re.compile(r"([0-9]{1,19})-([0-9]{1,19})")


class MalformedCursor(ValueError):
    pass


def parse(text: str, logs: tuple[Log, ...]) -> Position:
    """The position a client has seen up to, per log it follows."""
    text = text.strip()
    if len(logs) == 1:
        if not _NUMBER.fullmatch(text):
            raise MalformedCursor(f"expected a stream sequence (digits), got {text[:40]!r}")
        return {logs[0]: int(text)}
    match = _PAIR.fullmatch(text)
    if not match:
        raise MalformedCursor(f"expected '<events_seq>-<forecasts_seq>', got {text[:40]!r}")
    return {Log.EVENTS: int(match[1]), Log.FORECASTS: int(match[2])}


def render(position: Mapping[Log, int], logs: tuple[Log, ...]) -> str:
    if len(logs) == 1:
        return str(position[logs[0]])
    return f"{position[Log.EVENTS]}-{position[Log.FORECASTS]}"


def covers(position: Mapping[Log, int], other: Mapping[Log, int]) -> bool:
    """Whether ``position`` is at or past ``other`` in every log ``other`` names."""
    return all(position[log] >= seq for log, seq in other.items())
