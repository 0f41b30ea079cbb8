"""Settings come from SPORTCAST_* variables, typed and validated."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.settings import Durability, Settings


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPORTCAST_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("SPORTCAST_DURABILITY", "replicated")
    monkeypatch.setenv("SPORTCAST_NATS_PORT", "14222")
    settings = Settings()
    assert settings.state_dir == tmp_path
    assert settings.durability is Durability.REPLICATED
    assert settings.nats_port == 14222


def test_invalid_port_is_rejected_with_the_field_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPORTCAST_GATEWAY_PORT", "70000")
    with pytest.raises(ValidationError, match="gateway_port"):
        Settings()


def test_default_durability_is_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPORTCAST_DURABILITY", raising=False)
    assert Settings().durability is Durability.FSYNC
