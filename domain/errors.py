"""The domain's error hierarchy: every rule a caller can break has one error with a stable code.

The ``code`` is part of the public contract (the gateway turns it into a problem type), so it
never changes once published; the message is for people and names the offending values.
"""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a domain rule or carried impossible values."""

    code: str = "domain-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotPermitted(DomainError):
    """The sender may not make this change (the gateway answers 403)."""


# Odds and prices


class InvalidPrice(DomainError):
    code = "invalid-price"


class ImpossibleBook(DomainError):
    """The implied probabilities of a complete market sum to less than 1."""

    code = "impossible-book"


class MarginRemovalFailed(DomainError):
    """The chosen method cannot produce proper probabilities for these prices."""

    code = "margin-removal-failed"


class OutcomeMismatch(DomainError):
    """The prices do not cover exactly the outcomes of the market."""

    code = "outcome-mismatch"


class MarketNotForSport(DomainError):
    code = "market-not-for-sport"


class OddsAfterResult(DomainError):
    code = "odds-after-result"


class InvalidQuote(DomainError):
    code = "invalid-quote"


class OddsBookMismatch(DomainError):
    """A quote was offered to the book of another fixture or market."""

    code = "odds-book-mismatch"


# Provenance


class InvalidProvenance(DomainError):
    code = "invalid-provenance"


# Times


class ImplausibleTime(DomainError):
    """A kick-off, start or quote time outside the window a feed may report."""

    code = "implausible-time"


# Fixtures


class InvalidFixture(DomainError):
    code = "invalid-fixture"


class NotFixtureWriter(NotPermitted):
    """The provider neither scheduled the fixture nor was granted it by an admin."""

    code = "not-fixture-writer"


class FixtureNotFound(DomainError):
    code = "fixture-not-found"


class FixtureAlreadyScheduled(DomainError):
    code = "fixture-already-scheduled"


class IllegalTransition(DomainError):
    """The fixture's status does not allow this change (e.g. postponing a finished match)."""

    code = "illegal-transition"


class FixtureNotStarted(DomainError):
    code = "fixture-not-started"


class FixtureAlreadyStarted(DomainError):
    code = "fixture-already-started"


class FixtureNotPlayable(DomainError):
    """The fixture is postponed or abandoned, so it cannot start or have in-match events."""

    code = "fixture-not-playable"


class FixtureFinished(DomainError):
    """The result is in: only a correction may change the fixture now."""

    code = "fixture-finished"


class FixtureNotFinished(DomainError):
    code = "fixture-not-finished"


class NotForSport(DomainError):
    """The event does not exist in this sport (e.g. a card in basketball)."""

    code = "not-for-sport"


class InvalidScore(DomainError):
    code = "invalid-score"


class ScoreWentBackwards(DomainError):
    code = "score-went-backwards"


class InvalidMinute(DomainError):
    code = "invalid-minute"


class InvalidGoal(DomainError):
    code = "invalid-goal"


class InvalidPeriod(DomainError):
    code = "invalid-period"


class PeriodOutOfOrder(DomainError):
    code = "period-out-of-order"


class InvalidCorrection(DomainError):
    code = "invalid-correction"
