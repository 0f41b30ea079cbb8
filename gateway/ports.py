"""What the gateway needs from the outside, as protocols; the composition root supplies them.
(The feed intake port is the application layer's: commands/intake.py.)"""

from __future__ import annotations

from typing import Protocol


class VersionProbe(Protocol):
    """Reports the version of one backing service, raising if it cannot be reached."""

    name: str

    async def version(self) -> str: ...
