"""The command line imports a command's module only when that command runs (docs/adr/0039):
`sportcast audit verify --help` must not pay for the forecasting, analytics or HTTP stacks,
and every listed command still has its own help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("catboost", "pandas", "numpy", "fastapi", "duckdb", "pyarrow", "uvicorn")

CHILD = """
import json, sys
from infra.cli import app
try:
    app(sys.argv[1:], prog_name="sportcast")
except SystemExit as done:
    code = done.code
print(json.dumps({"code": code, "heavy": [m for m in HEAVY if m in sys.modules]}))
""".replace("HEAVY", repr(HEAVY))


def imported_by(*args: str) -> tuple[str, dict[str, object]]:
    """Run ``sportcast ARGS`` in a fresh interpreter: its output, exit code and which of HEAVY
    it imported."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    *output, last = done.stdout.splitlines()
    return "\n".join(output), json.loads(last)


def test_audit_verify_help_imports_none_of_the_heavy_libraries() -> None:
    output, seen = imported_by("audit", "verify", "--help")
    assert seen == {"code": 0, "heavy": []}
    assert "--store-dir" in output
    assert "--no-forecasts" in output


def test_the_top_level_help_lists_every_command_and_imports_none_of_them() -> None:
    from infra.cli import SportcastCommands

    output, seen = imported_by("--help")
    assert seen == {"code": 0, "heavy": []}
    for name in [*SportcastCommands.lazy, "version"]:
        assert f" {name} " in output


WALK = """
import json
import typer
from typer.testing import CliRunner
from infra.cli import SportcastCommands, app

root = typer.main.get_command(app)
runner = CliRunner()
failed, listed_wrong, answered = [], [], 0


def words(text):
    return " ".join((text or "").split())


def every_help(command, path):
    global answered
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    answered += 1
    if result.exit_code != 0:
        failed.append([path, result.output])
    for name, sub in getattr(command, "commands", {}).items():
        every_help(sub, [*path, name])


for name, lazy in SportcastCommands.lazy.items():
    command = root.loaded(name)
    if not words(command.help).startswith(words(lazy.help)):
        listed_wrong.append(name)
    every_help(command, [name])
print(json.dumps({"failed": failed, "listed_wrong": listed_wrong, "answered": answered}))
"""


def test_each_listed_help_line_is_the_commands_own_and_every_help_answers() -> None:
    """The listing's line comes from the table (nothing imported); it must be how the
    command's own help begins. Then `--help` of every command and subcommand answers. In a
    child process: a group's callback may configure logging on the runner's streams."""
    from infra.cli import SportcastCommands

    done = subprocess.run(
        [sys.executable, "-c", WALK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["failed"] == []
    assert seen["listed_wrong"] == []
    assert seen["answered"] > 2 * len(SportcastCommands.lazy)  # the groups' subcommands too
