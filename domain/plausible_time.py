"""The window of times a feed may report: a kick-off, a start, a quote (docs/adr/0023).

From 1900 (the datasets' World Cups start in 1930) to two years after the message was received
(fixtures are published a season ahead). A time outside it is a typo or an attack, and a
stored one would reach every follower: ``0001-01-01`` once made the stale-odds check overflow
on every tick. The bound is relative to the message's own ``received_at``, so the rule stays a
pure function of the command and a replay decides the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.errors import ImplausibleTime

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=2 * 366)


def check_plausible(moment: datetime, what: str, received_at: datetime) -> None:
    latest = received_at + AHEAD
    if not EARLIEST <= moment <= latest:
        raise ImplausibleTime(
            f"{what} {moment.isoformat()} is outside the accepted window"
            f" {EARLIEST.date()} .. {latest.date()} (two years after it was received)"
        )
