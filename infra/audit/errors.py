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
