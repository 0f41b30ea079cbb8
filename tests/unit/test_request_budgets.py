"""Per-key request budgets counted in this process: a token bucket per caller."""

from __future__ import annotations

import pytest

from domain.access import Limits, Plan, Principal, Scope
from gateway.access.refusals import RateLimited
from gateway.access.throttle import RequestRate, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_minutes_budget_then_the_steady_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock)
    assert [buckets.take("key:a", 60) for _ in range(60)] == [0.0] * 60
    assert buckets.take("key:a", 60) == pytest.approx(1.0)  # one token a second
    clock.now += 0.5
    assert buckets.take("key:a", 60) == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("key:a", 60) == 0.0
    assert buckets.take("key:a", 60) > 0
    clock.now += 3600  # refilled, never beyond one minute's budget
    assert [buckets.take("key:a", 60) for _ in range(61)].count(0.0) == 60


def test_callers_have_buckets_of_their_own() -> None:
    buckets = TokenBuckets(Clock())
    assert [buckets.take("key:a", 2) for _ in range(3)][2] > 0
    assert buckets.take("key:b", 2) == 0.0


def reader(rate: int) -> Principal:
    return Principal(
        subject="key:r",
        scopes=frozenset({Scope.FORECASTS_READ}),
        plan=Plan.parse(["*"]),
        limits=Limits(requests_per_minute=rate),
    )


async def test_a_spent_budget_is_a_429_with_the_seconds_to_the_next_token() -> None:
    rate = RequestRate()
    principal = reader(3)
    assert [rate.try_spend(principal) for _ in range(3)] == [True, True, True]
    assert rate.try_spend(principal) is False
    with pytest.raises(RateLimited) as refused:
        await rate.spend(principal)
    assert refused.value.headers == {"Retry-After": "20"}  # 3 a minute: one each 20 s
