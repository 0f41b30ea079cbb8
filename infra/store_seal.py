"""The stopped store's seal: what the quick check at start cannot ask the server (docs/adr/0018).

After a clean stop nats-server trusts its index at the next start: a message damaged on disk
meanwhile is still counted in the stream's state (messages, first and last sequence, subjects:
all unchanged) and skipped on reads. Only reading every message would find it through the
server. Nothing may change the JetStream files while the server is stopped, so the embedded
stack seals them instead: at a clean stop a digest of every file under the store is written
beside it (``store-seal.json``); before the next start each file is compared with it. A file
changed or gone is damage, named by the stream it belongs to. The breaks found are kept
(``store-seal-broken.json``) and reported at every start until ``sportcast store check
--accept-damage``; the seal itself is spent by the start (the running server changes the
files), so a crash leaves no seal and nothing stale is compared.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

SEAL = "store-seal.json"
BROKEN = "store-seal-broken.json"
_JETSTREAM = "jetstream"


@dataclass(frozen=True)
class SealBreak:
    stream: str
    """The stream the file belongs to ('' for a server-wide file)."""
    file: str
    change: str
    """changed | gone"""

    def detail(self) -> str:
        return f"{self.file} {self.change} while the server was stopped"


def _files(store_dir: Path) -> dict[str, str]:
    root = store_dir / _JETSTREAM
    digests: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as f:
                digests[path.relative_to(store_dir).as_posix()] = hashlib.file_digest(
                    f, "sha256"
                ).hexdigest()
    return digests


def _write(path: Path, content: object) -> None:
    temporary = path.with_suffix(".tmp")
    with temporary.open("w") as out:
        json.dump(content, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)


def seal(store_dir: Path) -> None:
    """After a clean stop: the digest of every JetStream file, kept beside the store."""
    _write(store_dir / SEAL, _files(store_dir))


def _stream_of(file: str) -> str:
    parts = file.split("/")
    return parts[parts.index("streams") + 1] if "streams" in parts[:-1] else ""


def unseal(store_dir: Path) -> list[SealBreak]:
    """Before a start: compare the files with the seal (if the last stop left one), spend the
    seal, and add what broke to the kept breaks. Returns the breaks found now."""
    path = store_dir / SEAL
    try:
        sealed: dict[str, str] = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except ValueError:
        sealed = {}  # a torn seal says nothing; the server's own checks remain
    now = _files(store_dir)
    breaks = [
        SealBreak(_stream_of(file), file, "gone" if file not in now else "changed")
        for file, digest in sealed.items()
        if now.get(file) != digest
    ]
    if breaks:
        _write(store_dir / BROKEN, [asdict(b) for b in [*kept_breaks(store_dir), *breaks]])
    path.unlink()
    return breaks


def kept_breaks(store_dir: Path) -> list[SealBreak]:
    """Every break found at a start and not yet accepted."""
    try:
        return [SealBreak(**b) for b in json.loads((store_dir / BROKEN).read_text())]
    except FileNotFoundError:
        return []


def accept_breaks(store_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (store_dir / BROKEN).unlink()
