"""How the domain's value objects are written into stored events (JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.provenance import Provenance
from domain.score import Score


class ProvenanceAsDict(Transcoding):
    type = Provenance
    name = "provenance"

    def encode(self, obj: Provenance) -> dict[str, Any]:
        return {
            "source": obj.source,
            "received_at": obj.received_at,
            "source_event_id": obj.source_event_id,
            "payload_ref": obj.payload_ref,
        }

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
    transcoder.register(ProvenanceAsDict())
    transcoder.register(ScoreAsList())
