"""Which schema each projection's tables live in, and the schema a rebuild fills beside it."""

from __future__ import annotations

import re

PREFIX = "rm_"
PROJECTOR_SCHEMA = "rm_projector"
"""What outlives a rebuild: the projector's record of failures."""
REBUILD_SUFFIX = "__rebuild"
RETIRED_SUFFIX = "__retired"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def check_name(name: str) -> str:
    """A projection name is also part of a SQL identifier: lower case, digits, underscores."""
    if not _NAME.match(name) or "__" in name:
        raise ValueError(f"not a projection name: {name!r} (lower case letters, digits and _)")
    return name


def live_schema(projection: str) -> str:
    """The schema the gateway reads: always complete, switched whole by a rebuild."""
    return PREFIX + check_name(projection)


def rebuild_schema(projection: str) -> str:
    """Where ``sportcast projections rebuild`` builds from zero while the live one serves."""
    return live_schema(projection) + REBUILD_SUFFIX


def quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


REPLAY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def check_replay_name(name: str) -> str:
    """A replay's name (`sportcast replay --schema NAME`): its own identifiers, never the live
    ones' (``rm_``)."""
    if not REPLAY_NAME.match(name) or "__" in name or name.endswith("_"):
        raise ValueError(
            f"not a replay schema name: {name!r} (a lower-case letter, then up to 30 lower-case"
            " letters, digits and single underscores)"
        )
    if name.startswith(PREFIX):
        raise ValueError(f"{name!r}: names starting with {PREFIX!r} are the live read models'")
    return name


def replay_schema(name: str, projection: str) -> str:
    """Where a point-in-time replay named ``name`` puts ``projection``'s tables: the live
    layout with ``name_`` for ``rm_``, so every read-model query runs on it with that prefix."""
    return f"{check_replay_name(name)}_{check_name(projection)}"
