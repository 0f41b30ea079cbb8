"""API keys in the ``prefix_short_long`` form: only ``short`` and SHA-256(``long``) are stored.

The short token finds the record; the long token proves possession. A leaked table therefore
gives no usable key, and a presented key costs one indexed lookup and one hash comparison.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.access import Limits, Plan, Principal, Scope

PREFIX = "sc"
_SHORT_BYTES = 6  # 12 hex characters: the public id of the key
_LONG_BYTES = 24  # 48 hex characters: the secret


@dataclass(frozen=True)
class PresentedKey:
    short: str
    long: str


@dataclass(frozen=True)
class NewKey:
    """A key just made: ``token`` is shown once to its owner and never stored."""

    token: str
    short: str
    long_hash: bytes


def long_hash(long: str) -> bytes:
    return hashlib.sha256(long.encode()).digest()


def generate_key() -> NewKey:
    short = secrets.token_hex(_SHORT_BYTES)
    long = secrets.token_hex(_LONG_BYTES)
    return NewKey(token=f"{PREFIX}_{short}_{long}", short=short, long_hash=long_hash(long))


def parse_key(token: str) -> PresentedKey | None:
    """The parts of a well-formed key, or None for anything else (e.g. a JWT)."""
    prefix, sep, rest = token.partition("_")
    short, sep2, long = rest.partition("_")
    if prefix != PREFIX or not sep or not sep2:
        return None
    if len(short) != 2 * _SHORT_BYTES or len(long) != 2 * _LONG_BYTES:
        return None
    return PresentedKey(short=short, long=long)


FEED_TOKEN_PREFIX = "feed-"  # noqa: S105 (a prefix of public ids, not a secret)
"""The short id of a bootstrap feed token adopted into the key store (never an ``sc`` key's:
those are 12 hex characters alone)."""


def presented_feed_token(token: str) -> PresentedKey:
    """A bootstrap feed token (``SPORTCAST_FEED_TOKENS``) as the key store holds it: its short
    id is ``feed-`` and 12 hex characters of its SHA-256, its secret the whole token, so it is
    found, matched, listed and revoked as any key is."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    return PresentedKey(short=FEED_TOKEN_PREFIX + digest[: 2 * _SHORT_BYTES], long=token)


def could_be_feed_token(token: str) -> bool:
    """Whether ``token`` is worth a key-store lookup as a feed token: not an ``sc`` key and not
    a JWT (three dot-separated parts)."""
    return parse_key(token) is None and token.count(".") != 2


@dataclass(frozen=True)
class KeyRecord:
    """One stored key: what it may do, whose plan it carries, and whether it still works."""

    short: str
    long_hash: bytes
    name: str
    scopes: frozenset[Scope]
    plan: Plan
    limits: Limits
    provider: str | None
    created_at: datetime
    revoked_at: datetime | None = None

    def matches(self, presented: PresentedKey) -> bool:
        return hmac.compare_digest(self.long_hash, long_hash(presented.long))

    def principal(self) -> Principal:
        return Principal(
            subject=f"key:{self.short}",
            scopes=self.scopes,
            plan=self.plan,
            limits=self.limits,
            provider=self.provider,
        )


class KeyStore(Protocol):
    """Where keys live; the composition root supplies the PostgreSQL one."""

    async def find(self, short: str) -> KeyRecord | None:
        """The record with this short token, revoked or not; None when there is none."""
        ...
