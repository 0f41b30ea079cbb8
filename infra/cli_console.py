"""The CLI's consoles: full width on a terminal, never truncated when output is not one."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

# Piped or redirected, a table is read by a program or kept in a file: no column is cut short or
# wrapped to an imagined 80-column screen.
_UNBOUNDED = 100_000


def console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else _UNBOUNDED)


def print_json(value: Any) -> None:
    """One JSON document on stdout (the `--json` of list commands), for programs."""
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")
