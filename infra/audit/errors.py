"""Audit failures a user can cause, each with a stable code (printed, and in --json reports)."""

from __future__ import annotations


class AuditError(Exception):
    code = "audit-error"


class StoreUnreachable(AuditError):
    code = "store-unreachable"


class UnknownFixture(AuditError):
    code = "unknown-fixture"


class ArtifactMissing(AuditError):
    code = "artifact-missing"


class WrongKey(AuditError):
    code = "wrong-key"


class BadRange(AuditError):
    code = "bad-range"


class UnknownStoreFormat(AuditError):
    """A store directory whose message blocks the direct reader does not know (compressed,
    encrypted, or a stream whose limits remove messages without a trace in its blocks)."""

    code = "unknown-store-format"
