"""Command groups whose subcommands are imported when used, not when ``sportcast`` starts.

Importing every command module made each ``sportcast`` command pay ~2.2 CPU seconds of imports
(CatBoost, pandas, FastAPI, DuckDB...) before doing anything, `--help` included (docs/adr/0039).
A :class:`LazyGroup` lists its lazy subcommands from a table (name, module, attribute, one line
of help) and imports a subcommand's module only when that subcommand is invoked (its own
``--help`` included). The listing's help line is the table's: a test holds it equal to the
command's own.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

Command = Any
"""A click command as typer builds it: typer vendors click (``typer._click``, not public), so
its command and context types are not named here."""


@dataclass(frozen=True)
class Lazy:
    """A subcommand in ``module``: ``attribute`` is a Typer app, added as a group (as
    ``add_typer`` adds it) or, with ``group=False``, as the one command it holds."""

    module: str
    attribute: str
    help: str
    """How the command's own help begins, shown in its group's listing."""
    group: bool = True

    def load(self, name: str) -> Command:
        target = getattr(importlib.import_module(self.module), self.attribute)
        if not self.group:
            command = typer.main.get_command(target)
            command.name = name
            return command
        # Through a parent, as add_typer did: a group of one command stays a group.
        parent = typer.Typer()
        parent.add_typer(target, name=name)
        return typer.main.get_command(parent).commands[name]  # type: ignore[attr-defined]


class Unloaded(TyperCommand):
    """What a group's listing shows for a lazy subcommand not imported yet."""

    def __init__(self, name: str, lazy: Lazy) -> None:
        super().__init__(name, help=lazy.help, short_help=lazy.help)
        self.lazy = lazy


class LazyGroup(TyperGroup):
    """A Typer group with subcommands from ``lazy`` besides those registered on it."""

    lazy: ClassVar[Mapping[str, Lazy]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, lazy in self.lazy.items():
            self.commands.setdefault(name, Unloaded(name, lazy))

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Command, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None and isinstance(command, Unloaded):
            command = self.commands[name] = command.lazy.load(name)
        return name, command, rest

    def loaded(self, name: str) -> Command:
        """The subcommand ``name``, imported if it was not yet (for tests and tools)."""
        command = self.commands.get(name)
        if isinstance(command, Unloaded):
            command = self.commands[name] = command.lazy.load(name)
        return command
