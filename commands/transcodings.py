"""How the domain's value objects are written into stored events (JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.provenance import Provenance
from domain.score import Score


class ProvenanceAsDict(Transcoding):
    """Every event of a command carries the same provenance, and every command of a run the
    same ``received_at``: the last of each is encoded once (about a tenth of the JSON encoding
    time in a replay). ``received_at`` is handed over already transcoded by ``datetime_as``
    (what the transcoder would do with it), so the JSON is the same byte for byte."""

    type = Provenance
    name = "provenance"

    def __init__(self, datetime_as: Transcoding | None = None) -> None:
        self._datetime_as = datetime_as
        self._last: tuple[Provenance | None, dict[str, Any]] = (None, {})
        self._last_received: tuple[datetime | None, object] = (None, None)

    def encode(self, obj: Provenance) -> dict[str, Any]:
        last, encoded = self._last  # one read: other threads may replace it meanwhile
        if last is obj:
            return encoded
        encoded = {
            "source": obj.source,
            "received_at": self._received_at(obj.received_at),
            "source_event_id": obj.source_event_id,
            "payload_ref": obj.payload_ref,
        }
        self._last = (obj, encoded)
        return encoded

    def _received_at(self, moment: datetime) -> object:
        if self._datetime_as is None:
            return moment
        last, encoded = self._last_received
        if last is not moment:
            encoded = {"_type_": self._datetime_as.name, "_data_": self._datetime_as.encode(moment)}
            self._last_received = (moment, encoded)
        return encoded

    def decode(self, data: dict[str, Any]) -> Provenance:
        received_at = data["received_at"]
        assert isinstance(received_at, datetime)
        return Provenance(
            source=data["source"],
            received_at=received_at,
            source_event_id=data["source_event_id"],
            payload_ref=data["payload_ref"],
        )


class ScoreAsList(Transcoding):
    type = Score
    name = "score"

    def encode(self, obj: Score) -> list[int]:
        return [obj.home, obj.away]

    def decode(self, data: list[int]) -> Score:
        return Score(data[0], data[1])


def register_domain_transcodings(transcoder: JSONTranscoder) -> None:
    transcoder.register(ProvenanceAsDict(datetime_as=transcoder.types.get(datetime)))
    transcoder.register(ScoreAsList())
