"""Readers for the public datasets in SPORTCAST_DATA_DIR, row by row, raw bytes kept.

Readers never judge a row: they parse what is there (empty cells become None) and keep the
original CSV line, so the ingest path can validate it and quarantine it with its reason.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

# The football CSVs give kick-off in local Central European time (data README).
FOOTBALL_TZ = ZoneInfo("Europe/Berlin")
_FOOTBALL_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


@dataclass(frozen=True, kw_only=True)
class SourceLine:
    """Where a row came from, and its bytes exactly as read."""

    path: str  # relative to the data dir, e.g. "football/england__premier-league.csv"
    line_no: int  # 1-based, the header is line 1
    raw: bytes


@dataclass(frozen=True, kw_only=True)
class FootballMatchRow:
    source: SourceLine
    kickoff: datetime
    country: str
    league: str
    season: str
    home: str
    away: str
    home_goals: int | None
    away_goals: int | None
    home_goals_ht: int | None
    away_goals_ht: int | None
    # market-average decimal prices as strings, exactly as in the file (None when empty)
    opening: dict[str, str | None]
    closing: dict[str, str | None]


@dataclass(frozen=True, kw_only=True)
class NbaGameRow:
    source: SourceLine
    season: int
    game_date: date
    home: str
    away: str
    home_points: int | None
    away_points: int | None
    home_quarters: tuple[int | None, ...]  # q1..q4, then overtime
    away_quarters: tuple[int | None, ...]
    moneyline_home: str | None  # American odds as in the file
    moneyline_away: str | None


@dataclass(frozen=True, kw_only=True)
class MalformedRow:
    source: SourceLine
    reason: str


FOOTBALL_PRICES = (
    "home",
    "draw",
    "away",
    "over_2.5",
    "under_2.5",
    "bts_yes",
    "bts_no",
)


def _cell(row: dict[str, str], key: str) -> str | None:
    value = row.get(key, "").strip()
    return value or None


def _int(row: dict[str, str], key: str) -> int | None:
    value = _cell(row, key)
    return None if value is None else int(float(value))


def _lines(path: Path, base: Path) -> Iterator[tuple[SourceLine, dict[str, str]]]:
    text = path.read_bytes()
    lines = text.splitlines()
    header = next(csv.reader([lines[0].decode()]))
    rel = str(path.relative_to(base))
    for number, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        values = next(csv.reader(io.StringIO(raw.decode("utf-8"))))
        yield SourceLine(path=rel, line_no=number, raw=raw), dict(zip(header, values, strict=False))


def _football_kickoff(text: str) -> datetime:
    # fromisoformat is ten times faster than strptime, which still judges any other shape.
    if _FOOTBALL_DATE.fullmatch(text):
        naive = datetime.fromisoformat(text)
    else:
        naive = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    return naive.replace(tzinfo=FOOTBALL_TZ)


def read_football(data_dir: Path) -> Iterator[FootballMatchRow | MalformedRow]:
    """Every match of every league file, in file order."""
    for path in sorted((data_dir / "football").glob("*.csv")):
        for source, row in _lines(path, data_dir):
            try:
                kickoff = _football_kickoff(row["Date"])
                yield FootballMatchRow(
                    source=source,
                    kickoff=kickoff,
                    country=row["country"],
                    league=row["league"],
                    season=row["Season"],
                    home=row["HomeTeam"],
                    away=row["AwayTeam"],
                    home_goals=_int(row, "FTHG"),
                    away_goals=_int(row, "FTAG"),
                    home_goals_ht=_int(row, "HTHG"),
                    away_goals_ht=_int(row, "HTAG"),
                    opening={p: _cell(row, f"{p}_open") for p in FOOTBALL_PRICES},
                    closing={p: _cell(row, f"{p}_close") for p in FOOTBALL_PRICES},
                )
            except (KeyError, ValueError) as exc:
                yield MalformedRow(source=source, reason=f"unreadable row: {exc!r}")


def read_nba(data_dir: Path) -> Iterator[NbaGameRow | MalformedRow]:
    path = data_dir / "nba" / "games.csv"
    for source, row in _lines(path, data_dir):
        try:
            yield NbaGameRow(
                source=source,
                season=int(row["season"]),
                game_date=date.fromisoformat(row["date"]),
                home=row["home"],
                away=row["away"],
                home_points=_int(row, "score_home"),
                away_points=_int(row, "score_away"),
                home_quarters=tuple(
                    _int(row, k) for k in ("q1_home", "q2_home", "q3_home", "q4_home", "ot_home")
                ),
                away_quarters=tuple(
                    _int(row, k) for k in ("q1_away", "q2_away", "q3_away", "q4_away", "ot_away")
                ),
                moneyline_home=_cell(row, "moneyline_home"),
                moneyline_away=_cell(row, "moneyline_away"),
            )
        except (KeyError, ValueError) as exc:
            yield MalformedRow(source=source, reason=f"unreadable row: {exc!r}")


@dataclass(frozen=True, kw_only=True)
class WorldCupMatchRow:
    source: SourceLine
    match_id: str
    tournament: str
    stage: str
    match_date: date
    match_time: str | None  # local "HH:MM" as in the file
    home: str
    away: str
    home_goals: int
    away_goals: int
    extra_time: bool
    penalty_shootout: bool
    venue: str | None = None  # "stadium, city"
    country: str | None = None  # the country the stadium is in


@dataclass(frozen=True, kw_only=True)
class WorldCupGoalRow:
    source: SourceLine
    goal_id: str
    match_id: str
    team: str
    player: str
    minute: int
    stoppage_minute: int
    period: str  # "first half", "extra time, second half", ... maybe + ", stoppage time"
    own_goal: bool
    penalty: bool


@dataclass(frozen=True, kw_only=True)
class WorldCupBookingRow:
    source: SourceLine
    booking_id: str
    match_id: str
    team: str
    player: str
    minute: int
    stoppage_minute: int
    period: str
    yellow: bool
    red: bool
    second_yellow: bool
    sending_off: bool


def _flag(row: dict[str, str], key: str) -> bool:
    return row[key].strip() in {"1", "True", "true"}


def _player(row: dict[str, str]) -> str:
    return " ".join(p for p in (row.get("given_name", ""), row.get("family_name", "")) if p)


def read_worldcup_matches(data_dir: Path) -> Iterator[WorldCupMatchRow | MalformedRow]:
    for source, row in _lines(data_dir / "worldcup" / "matches.csv", data_dir):
        try:
            yield WorldCupMatchRow(
                source=source,
                match_id=row["match_id"],
                tournament=row["tournament_name"],
                stage=row["stage_name"],
                match_date=date.fromisoformat(row["match_date"]),
                match_time=_cell(row, "match_time"),
                home=row["home_team_name"],
                away=row["away_team_name"],
                home_goals=int(row["home_team_score"]),
                away_goals=int(row["away_team_score"]),
                extra_time=_flag(row, "extra_time"),
                penalty_shootout=_flag(row, "penalty_shootout"),
                venue=_venue(row),
                country=_cell(row, "country_name"),
            )
        except (KeyError, ValueError) as exc:
            yield MalformedRow(source=source, reason=f"unreadable row: {exc!r}")


def _venue(row: dict[str, str]) -> str | None:
    parts = [p for p in (_cell(row, "stadium_name"), _cell(row, "city_name")) if p]
    return ", ".join(parts) or None


def read_worldcup_goals(data_dir: Path) -> Iterator[WorldCupGoalRow | MalformedRow]:
    for source, row in _lines(data_dir / "worldcup" / "goals.csv", data_dir):
        try:
            yield WorldCupGoalRow(
                source=source,
                goal_id=row["goal_id"],
                match_id=row["match_id"],
                team=row["team_name"],
                player=_player(row),
                minute=int(row["minute_regulation"]),
                stoppage_minute=int(row["minute_stoppage"] or 0),
                period=row["match_period"],
                own_goal=_flag(row, "own_goal"),
                penalty=_flag(row, "penalty"),
            )
        except (KeyError, ValueError) as exc:
            yield MalformedRow(source=source, reason=f"unreadable row: {exc!r}")


def read_worldcup_bookings(data_dir: Path) -> Iterator[WorldCupBookingRow | MalformedRow]:
    for source, row in _lines(data_dir / "worldcup" / "bookings.csv", data_dir):
        try:
            yield WorldCupBookingRow(
                source=source,
                booking_id=row["booking_id"],
                match_id=row["match_id"],
                team=row["team_name"],
                player=_player(row),
                minute=int(row["minute_regulation"]),
                stoppage_minute=int(row["minute_stoppage"] or 0),
                period=row["match_period"],
                yellow=_flag(row, "yellow_card"),
                red=_flag(row, "red_card"),
                second_yellow=_flag(row, "second_yellow_card"),
                sending_off=_flag(row, "sending_off"),
            )
        except (KeyError, ValueError) as exc:
            yield MalformedRow(source=source, reason=f"unreadable row: {exc!r}")
