"""What a command asks for, as a digest: kept on its receipt so that a key reused for another
request is told from a retry (the IETF Idempotency-Key draft's "payload fingerprint").

The digest covers every field of the command but its key and its provenance (when and how it
was received changes from one retry to the next; what it asks for does not). Mappings are
taken in sorted order, so two bodies that differ only in key order or spacing are one request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import fields

from commands.base import Command

_SKIPPED = frozenset({"idempotency_key", "provenance"})


def command_digest(cmd: Command) -> str:
    parts = [type(cmd).__name__]
    for f in fields(cmd):
        if f.name in _SKIPPED:
            continue
        value = getattr(cmd, f.name)
        if isinstance(value, Mapping):
            value = sorted((str(k), repr(v)) for k, v in value.items())
        parts.append(f"{f.name}={value!r}")
    return "sha256:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
