"""Progress of a long CLI command (replay, train, evaluate) with rich.progress, on stderr so
that stdout keeps only the command's report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@contextmanager
def counting(what: str, *, total: int | None, console: Console) -> Iterator[Callable[[int], None]]:
    """A bar for ``total`` items (a spinner and a count when the total is unknown); yields the
    function to call with the number done so far."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    columns += [TimeElapsedColumn()] + ([TimeRemainingColumn()] if total else [])
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(what, total=total)
        yield lambda done: progress.update(task, completed=done)


@contextmanager
def working(what: str, *, console: Console) -> Iterator[None]:
    """A spinner and the time elapsed, for one long step with nothing to count."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        progress.add_task(what, total=None)
        yield
