"""Sharing a replay out between worker processes: whole groups, about equal shares."""

from __future__ import annotations

from infra.feeds.parallel import share_out

LEAGUES = {
    "italy-serie-a": 5299,
    "spain-laliga": 5295,
    "england-premier-league": 5292,
    "france-ligue-1": 5218,
    "netherlands-eredivisie": 4404,
    "germany-bundesliga": 4293,
    "belgium-jupiler-pro-league": 4073,
    "egypt-premier-league": 3607,
}


def test_every_group_goes_to_exactly_one_worker() -> None:
    for workers in range(1, 10):
        shares = share_out(LEAGUES, workers)
        groups = [g for share in shares for g in share]
        assert sorted(groups) == sorted(LEAGUES)
        assert len(shares) == min(workers, len(LEAGUES))
        assert all(shares)


def test_shares_are_about_equal() -> None:
    for workers in (2, 3, 4):
        sizes = [sum(LEAGUES[g] for g in share) for share in share_out(LEAGUES, workers)]
        assert max(sizes) - min(sizes) <= max(LEAGUES.values())
    two = [sum(LEAGUES[g] for g in share) for share in share_out(LEAGUES, 2)]
    assert max(two) / min(two) < 1.05


def test_sharing_out_is_deterministic_and_handles_a_single_group() -> None:
    assert share_out(LEAGUES, 3) == share_out(dict(reversed(LEAGUES.items())), 3)
    assert share_out({"nba": 19_158}, 4) == [("nba",)]
    assert share_out({}, 2) == []
