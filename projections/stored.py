"""Stored event states read as the JSON the transcoder wrote, decoding only the fields a
projection needs (no domain event objects; docs/adr/0015).

eventsourcing's JSONTranscoder writes a value of a registered type as
``{"_type_": name, "_data_": data}``; the few names read here are decoded exactly as the
transcodings would. The composition root checks the mapper writes plain JSON (no cipher, no
compressor) before using projections that read states this way.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

_decode = json.JSONDecoder().decode  # the C scanner alone: no hook per JSON object


class UnreadableState(ValueError):
    """A stored state without the fields or encodings the projection reads."""


def state_of(raw: bytes) -> dict[str, Any]:
    state = _decode(raw.decode("utf8"))
    if type(state) is not dict:
        raise UnreadableState(f"a stored state is a JSON object, got {type(state).__name__}")
    return state


def encoded(value: Any, name: str) -> Any:
    """The data of a value the transcoder wrote as {"_type_": name, "_data_": data}."""
    if type(value) is not dict or value.get("_type_") != name or "_data_" not in value:
        raise UnreadableState(f"expected an encoded {name}, got {value!r}")
    return value["_data_"]


def moment(value: Any) -> datetime:
    return datetime.fromisoformat(encoded(value, "datetime_iso"))


def optional_moment(value: Any) -> datetime | None:
    return None if value is None else moment(value)


def uuid(value: Any) -> UUID:
    return UUID(encoded(value, "uuid_hex"))


def score(value: Any) -> tuple[int, int]:
    home, away = encoded(value, "score")
    return int(home), int(away)


def as_uuid(originator_id: UUID | str) -> UUID:
    return originator_id if type(originator_id) is UUID else UUID(str(originator_id))
