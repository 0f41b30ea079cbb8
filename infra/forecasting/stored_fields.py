"""Stored feed events -> forecasting inputs, decoding only the fields the translator reads.

The mapper builds a whole domain event per stored event, running a Python hook on every JSON
object (provenance, timestamps...): most of the cost of reading the football history. Here the
state is parsed as the projections parse it (orjson, with the json module where orjson would
read it differently: projections/stored.py, docs/adr/0033), with no hook per JSON object, and
the few fields needed are converted exactly as the mapper's transcodings would. Only for plain
JSON states (no cipher, no compressor, the standard transcodings, no upcasting); otherwise
`for_mapper` says no and the caller uses the mapper.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    Notification,
    UUIDAsHex,
)
from eventsourcing.utils import get_topic

from commands.transcodings import ScoreAsList
from domain.fixture import Fixture
from domain.odds import Market
from domain.odds_book import OddsBook
from forecasting.football.from_events import InputTranslator
from forecasting.football.inputs import ForecastInput
from projections.stored import parsed

_EVENTS = (
    Fixture.Scheduled,
    Fixture.Rescheduled,
    Fixture.Finished,
    OddsBook.Opened,
    OddsBook.OddsQuoted,
)
TOPICS = tuple(get_topic(cls) for cls in _EVENTS)
SCHEDULED, RESCHEDULED, FINISHED, OPENED, QUOTED = TOPICS
# The transcodings whose encodings are read here, by name.
_TRANSCODINGS = {"datetime_iso": DatetimeAsISO, "uuid_hex": UUIDAsHex, "score": ScoreAsList}
# How the transcoder writes the 1X2 market: a book's state without it is another market's.
_MATCH_RESULT = json.dumps(Market.MATCH_RESULT.value, ensure_ascii=False).encode()
# Event classes whose later versions are decoded here too, with the version: a scheduling
# stored before version 2 has no venue country, which is what its upcast gives it (None).
_DECODED: dict[type, int] = {Fixture.Scheduled: 2, Fixture.Rescheduled: 2}


class StoredStateError(ValueError):
    """A stored state without the encoding the mapper would have decoded."""


class FieldDecoder:
    def __init__(self, translator: InputTranslator) -> None:
        self.translator = translator
        self._by_topic: dict[str, Callable[[UUID, dict[str, Any]], ForecastInput | None]] = {
            SCHEDULED: self._scheduled,
            RESCHEDULED: self._rescheduled,
            FINISHED: self._finished,
            OPENED: self._opened,
            QUOTED: self._quoted,
        }

    @classmethod
    def for_mapper(cls, mapper: Mapper[Any], translator: InputTranslator) -> FieldDecoder | None:
        """A decoder equivalent to `mapper` for these topics, or None if there is none."""
        transcoder = mapper.transcoder
        if mapper.cipher is not None or mapper.compressor is not None:
            return None
        if type(transcoder) is not JSONTranscoder:
            return None
        for name, kind in _TRANSCODINGS.items():
            if type(transcoder.names.get(name)) is not kind:
                return None
        if any(getattr(e, "class_version", 1) != _DECODED.get(e, 1) for e in _EVENTS):
            return None  # upcasting would change stored states: the mapper knows how
        return cls(translator)

    def translate(self, notification: Notification) -> ForecastInput | None:
        """The input a stored event of one of TOPICS gives, as `InputTranslator.translate`."""
        topic = notification.topic
        originator_id = notification.originator_id
        if type(originator_id) is not UUID:
            originator_id = UUID(str(originator_id))  # as the mapper's id convertor
        if topic == QUOTED:
            if not self.translator.follows_book(originator_id):
                return None  # most quotes (other markets): not worth decoding
        elif topic == OPENED and _MATCH_RESULT not in notification.state:
            return None  # another market's book: `book_opened` would ignore it
        decode = self._by_topic.get(topic)
        if decode is None:
            return None
        try:
            state = parsed(notification.state)
            return decode(originator_id, state)
        except (KeyError, TypeError, ValueError) as exc:
            raise StoredStateError(
                f"stored event {notification.id} ({topic}) cannot be read: {exc!r}"
            ) from exc

    def _scheduled(self, fixture_id: UUID, state: dict[str, Any]) -> ForecastInput | None:
        return self.translator.scheduled(
            fixture_id,
            sport=state["sport"],
            competition=state["competition"],
            season=state["season"],
            home=state["home"],
            away=state["away"],
            kickoff=_datetime(state["kickoff"]),
            venue_country=state.get("venue_country"),
        )

    def _rescheduled(self, fixture_id: UUID, state: dict[str, Any]) -> ForecastInput | None:
        return self.translator.rescheduled(
            fixture_id, _datetime(state["kickoff"]), state.get("venue_country")
        )

    def _finished(self, fixture_id: UUID, state: dict[str, Any]) -> ForecastInput | None:
        home, away = _encoded(state["score"], "score")
        return self.translator.finished(fixture_id, home, away)

    def _opened(self, book_id: UUID, state: dict[str, Any]) -> ForecastInput | None:
        fixture_id = UUID(_encoded(state["fixture_id"], "uuid_hex"))
        self.translator.book_opened(book_id, fixture_id, state["market"])
        return None

    def _quoted(self, book_id: UUID, state: dict[str, Any]) -> ForecastInput | None:
        return self.translator.quoted(
            book_id, state["stage"], _datetime(state["quoted_at"]), state["decimal_prices"]
        )


def _encoded(value: Any, name: str) -> Any:
    """The data of a value the transcoder wrote as {"_type_": name, "_data_": data}."""
    if type(value) is not dict or len(value) != 2 or value.get("_type_") != name:
        raise StoredStateError(f"expected an encoded {name}, got {value!r}")
    return value["_data_"]


def _datetime(value: Any) -> datetime:
    return datetime.fromisoformat(_encoded(value, "datetime_iso"))
