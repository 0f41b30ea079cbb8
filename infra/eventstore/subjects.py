"""Subject layout of one event-store stream (docs/adr/0004).

``<prefix>.evt.<aggregate>``   every event of one aggregate (one subject per aggregate)
``<prefix>.trk.<application>`` tracking positions of one downstream application
``<prefix>.chk``               checkpoints over the global order
``<prefix>.<kind>.<aggregate>`` other aggregate recorders, e.g. snapshots (not notifications)
``esn.<stream>.<aggregate>``   header-only republish of stored events (wake-ups, not stored)
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property
from uuid import UUID


def aggregate_token(originator_id: UUID | str) -> str:
    # UUIDs as hex; other ids as url-safe base64, which never holds '.', '*', '>' or spaces.
    if isinstance(originator_id, UUID):
        return "u" + originator_id.hex
    raw = base64.urlsafe_b64encode(originator_id.encode()).decode().rstrip("=")
    return "s" + raw


def originator_id_from_token(token: str) -> UUID | str:
    if token.startswith("u"):
        return UUID(hex=token[1:])
    raw = token[1:]
    return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()


def name_token(name: str) -> str:
    return aggregate_token(name)[1:] or "_"


@dataclass(frozen=True)
class SubjectLayout:
    stream: str
    kind: str = "evt"  # "evt" for the application sequence; other recorders (snapshots) apart

    @property
    def prefix(self) -> str:
        return f"es.{self.stream}"

    @property
    def all_subjects(self) -> str:
        return f"{self.prefix}.>"

    @property
    def events(self) -> str:
        return f"{self.prefix}.evt.>"

    @property
    def notify(self) -> str:
        return f"esn.{self.stream}.>"

    @property
    def checkpoints(self) -> str:
        return f"{self.prefix}.chk"

    @cached_property
    def _aggregates(self) -> str:
        return f"{self.prefix}.{self.kind}."

    def aggregate(self, originator_id: UUID | str) -> str:
        if type(originator_id) is UUID:  # the common case, without a call
            return f"{self._aggregates}u{originator_id.int:032x}"
        return self._aggregates + aggregate_token(originator_id)

    def tracking(self, application_name: str) -> str:
        return f"{self.prefix}.trk.{name_token(application_name)}"

    def originator_id(self, subject: str) -> UUID | str:
        return originator_id_from_token(subject.rsplit(".", 1)[1])

    def is_event(self, subject: str) -> bool:
        return subject.startswith(f"{self.prefix}.evt.")
