"""Read-model migrations can run twice: yoyo applies a migration and records it in two
transactions, so a projector killed between them applies it again on its next start
(readmodels/postgres/migrate.py). Every statement that creates something says IF NOT EXISTS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from readmodels.postgres.migrate import MIGRATIONS

FILES = sorted(MIGRATIONS.glob("*/*.sql"))
CREATES = re.compile(r"\b(CREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX|SCHEMA|VIEW)|ADD\s+COLUMN)\b", re.I)


def statements(path: Path) -> list[str]:
    text = "\n".join(line.split("--")[0] for line in path.read_text().splitlines())
    return [s.strip() for s in text.split(";") if s.strip()]


def test_there_are_migrations() -> None:
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_creating_statement_may_run_twice(path: Path) -> None:
    for statement in statements(path):
        for match in CREATES.finditer(statement):
            rest = statement[match.end() :].lstrip()
            assert rest.upper().startswith("IF NOT EXISTS"), f"{path.name}: {statement[:80]}"
