"""The auditor's witness: what the log held at the last clean audit, kept outside the system.

Checkpoints chain forwards, so a log cut back to an earlier checkpoint (newest events and
checkpoints removed) still verifies on its own. The witness catches it: the log must still reach
the last position seen and fold to the same digest at the last sealed position.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from infra.eventstore.verify import Problem, StreamVerifier


@dataclass(frozen=True)
class Seen:
    last_seq: int  # the stream's last position at that audit
    sealed_upto: int  # the last position a checkpoint covered
    digest: str  # the running digest at sealed_upto


@dataclass(frozen=True)
class Witness:
    streams: dict[str, Seen]

    @classmethod
    def load(cls, path: Path) -> Witness:
        if not path.exists():
            return cls({})
        raw = json.loads(path.read_text())
        return cls({name: Seen(**seen) for name, seen in raw["streams"].items()})

    def save(self, path: Path) -> None:
        body = {"streams": {name: asdict(seen) for name, seen in self.streams.items()}}
        path.write_text(json.dumps(body, indent=2, sort_keys=True))

    @classmethod
    def from_verifiers(cls, verifiers: list[tuple[StreamVerifier, int]]) -> Witness:
        streams = {}
        for verifier, last_seq in verifiers:
            sealed = verifier.report().sealed_upto
            streams[verifier.layout.stream] = Seen(last_seq, sealed, verifier.digest_at(sealed))
        return cls(streams)


def check_witness(witness: Witness, verifier: StreamVerifier, last_seq: int) -> list[Problem]:
    seen = witness.streams.get(verifier.layout.stream)
    if seen is None:
        return []
    subject = verifier.layout.all_subjects
    if last_seq < seen.last_seq:
        detail = f"the log ends at {last_seq}, but reached {seen.last_seq} at the last audit"
        return [Problem("truncated", last_seq, subject, detail)]
    if verifier.digest_at(seen.sealed_upto) != seen.digest:
        detail = "the events up to the last audited checkpoint no longer fold to its digest"
        return [Problem("witness-mismatch", seen.sealed_upto, subject, detail)]
    return []
