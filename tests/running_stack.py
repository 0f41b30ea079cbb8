"""`sportcast up` as a child process on free ports and one data directory, restartable: for the
dashboard's browser tests and benchmarks/bench_dashboard.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from infra.embedded.nats_users import NatsUsers
from infra.embedded.ports import free_port
from infra.natsaccess import EMBEDDED_USERS_DIR, Role

SPORTCAST = str(Path(sys.executable).parent / "sportcast")
CHROMIUM = "/usr/lib/chromium/chromium"  # Debian's chromium package
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Stack:
    """`sportcast up` on fixed ports and one data directory, restartable."""

    def __init__(
        self,
        state_dir: Path,
        log: Path,
        *,
        args: tuple[str, ...] = (),
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.args = args
        self.extra_env = extra_env or {}
        self.state_dir = state_dir
        self.ports = {
            "NATS_PORT": free_port(),
            "NATS_MONITOR_PORT": free_port(),
            "POSTGRES_PORT": free_port(),
            "GATEWAY_PORT": free_port(),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = log

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.ports['GATEWAY_PORT']}"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.ports['NATS_PORT']}"

    def env(self) -> dict[str, str]:
        # The caller's SPORTCAST_* settings would leak into the stack under test (ports, state
        # dir, keys); only where the datasets live is kept.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SPORTCAST_") or k == "SPORTCAST_DATA_DIR"
        }
        env.update({f"SPORTCAST_{k}": str(v) for k, v in self.ports.items()})
        env["SPORTCAST_STATE_DIR"] = str(self.state_dir)
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [SPORTCAST, "up", *self.args], env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError("the gateway never became healthy")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                # The whole group: nats-server and PostgreSQL children must not outlive it.
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)

    @property
    def admin_seed(self) -> str:
        """The stack's generated admin NKey (the embedded NATS refuses anonymous clients)."""
        return str(NatsUsers(self.state_dir / EMBEDDED_USERS_DIR).seed_file(Role.ADMIN))

    def first_forecast(self, timeout: float) -> dict[str, object]:
        """The first forecast on /v1/streams/forecasts since this gateway started (``recent``
        takes one from its replay buffer, which holds only what came since it started)."""
        url = f"{self.base}/v1/streams/forecasts"
        params = {"recent": "1", "access_token": self.key()}
        deadline = time.monotonic() + timeout
        with httpx.stream("GET", url, params=params, timeout=httpx.Timeout(5, read=timeout)) as r:
            r.raise_for_status()
            event = ""
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event == "forecast":
                    found: dict[str, object] = json.loads(line.removeprefix("data: "))
                    return found
                if time.monotonic() > deadline:
                    break
        raise AssertionError(f"no forecast on the stream in {timeout:.0f} s")

    def cli(self, *args: str) -> str:
        """A `sportcast` command against this stack; its standard output."""
        done = subprocess.run(
            [SPORTCAST, *args], env=self.env(), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def key(self) -> str:
        return (self.state_dir / "secrets" / "dashboard-key").read_text().strip()

    def narrow_key(self) -> str:
        """A read key whose plan covers basketball only (the demo league is football)."""
        out = subprocess.run(
            [SPORTCAST, "keys", "create", "--name", "narrow", "--scope", "forecasts:read",
             "--plan", "basketball"],
            env=self.env(), capture_output=True, text=True, check=True,
        )  # fmt: skip
        return out.stdout.strip().splitlines()[-1]
