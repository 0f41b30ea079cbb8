"""`sportcast up` end to end: a real process, real nats-server and PostgreSQL children."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import nats.errors
import nats.js.errors
import psutil
import pytest

from infra.embedded.nats_users import NatsUsers
from infra.embedded.ports import free_port
from infra.natsaccess import EMBEDDED_USERS_DIR, Role

pytestmark = pytest.mark.slow

SPORTCAST = str(Path(sys.executable).parent / "sportcast")


@dataclass
class Ports:
    nats: int
    monitor: int
    postgres: int
    gateway: int

    def env(self, data_dir: Path) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")},
            "SPORTCAST_STATE_DIR": str(data_dir),
            "SPORTCAST_NATS_PORT": str(self.nats),
            "SPORTCAST_NATS_MONITOR_PORT": str(self.monitor),
            "SPORTCAST_POSTGRES_PORT": str(self.postgres),
            "SPORTCAST_GATEWAY_PORT": str(self.gateway),
        }


@pytest.fixture
def ports() -> Ports:
    return Ports(free_port(), free_port(), free_port(), free_port())


_OUTPUT: dict[int, tuple[threading.Thread, list[str]]] = {}


def popen_up(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """`sportcast up ARGS`, stdout and stderr together, read as it comes by a thread: it logs
    while it runs, and a pipe nobody reads would block it once full. `output_of` gives it."""
    proc = subprocess.Popen(
        [SPORTCAST, "up", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lines.extend, args=(proc.stdout,), daemon=True)
    reader.start()
    _OUTPUT[proc.pid] = (reader, lines)
    return proc


def output_of(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """Everything the process wrote, once it has exited (waits up to ``timeout``)."""
    proc.wait(timeout)
    reader, lines = _OUTPUT[proc.pid]
    reader.join(10)
    return "".join(lines)


def start(data_dir: Path, ports: Ports) -> subprocess.Popen[str]:
    return popen_up([], ports.env(data_dir))


def wait_healthy(proc: subprocess.Popen[str], port: int, timeout: float = 90) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"sportcast up exited early:\n{output_of(proc)}")
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            if response.status_code == 200:
                body: dict[str, object] = response.json()
                return body
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("gateway never became healthy")


def children_of(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def children_named(pid: int, name: str) -> list[psutil.Process]:
    """``pid``'s descendants called ``name``. PostgreSQL's backends come and go with their
    connections: one listed a moment ago may be gone when its name is asked, and is skipped."""
    found = []
    for child in children_of(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.name() == name:
                found.append(child)
    return found


def still_running(processes: list[psutil.Process], within: float = 30) -> list[int]:
    """The pids of ``processes`` that have not ended within ``within`` s (zombies count as
    ended: their parent is gone); each ends in its own time, none is waited for longer."""
    deadline = time.monotonic() + within
    while True:
        running = []
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    running.append(process.pid)
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.1)


def interrupt(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    return output_of(proc)


@pytest.fixture
def stack(state_dir: Path, ports: Ports) -> Iterator[tuple[subprocess.Popen[str], Path, Ports]]:
    proc = start(state_dir, ports)
    yield proc, state_dir, ports
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def admin_seed(data_dir: Path) -> str:
    """The embedded stack's admin NKey, generated into its state directory."""
    return str(NatsUsers(data_dir / EMBEDDED_USERS_DIR).seed_file(Role.ADMIN))


async def _publish_and_count(nats_url: str, publish: bool, data_dir: Path) -> int:
    nc = await nats.connect(nats_url, nkeys_seed=admin_seed(data_dir))
    try:
        js = nc.jetstream()
        if publish:
            await js.add_stream(name="E2E", subjects=["e2e.>"])
            await js.publish("e2e.one", b"survives a restart")
        info = await js.stream_info("E2E")
        return int(info.state.messages)
    finally:
        await nc.close()


async def _count(nats_url: str, stream: str, data_dir: Path) -> int:
    nc = await nats.connect(nats_url, nkeys_seed=admin_seed(data_dir))
    try:
        try:
            info = await nc.jetstream().stream_info(stream)
        except nats.js.errors.NotFoundError:
            return 0
        return int(info.state.messages)
    finally:
        await nc.close()


def test_up_serves_health_with_versions_and_sigint_leaves_no_orphans(
    stack: tuple[subprocess.Popen[str], Path, Ports],
) -> None:
    proc, data_dir, ports = stack
    body = wait_healthy(proc, ports.gateway)
    services = body["services"]
    assert isinstance(services, dict)
    assert services["nats"]["version"].startswith("2.")
    assert services["postgres"]["version"].split(".")[0].isdigit()

    # the main job runs: the demo feed's events arrive in the event store
    nats_url = f"nats://127.0.0.1:{ports.nats}"
    deadline = time.monotonic() + 60
    while asyncio.run(_count(nats_url, "SPORTCAST_EVENTS", data_dir)) == 0:
        assert time.monotonic() < deadline, "the demo feed stored no events in 60 s"
        time.sleep(0.5)
    # nobody else: an anonymous client is refused; the keys are the owner's alone
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        asyncio.run(nats.connect(nats_url, allow_reconnect=False, max_reconnect_attempts=0))
    for seed in (data_dir / EMBEDDED_USERS_DIR).iterdir():
        assert seed.stat().st_mode & 0o777 == 0o600
    read_side_commands_use_the_stack(data_dir, ports)

    children = children_of(proc.pid)
    assert children_named(proc.pid, "nats-server")
    assert children_named(proc.pid, "postgres")
    output = interrupt(proc)
    assert proc.returncode == 0, output
    assert "Traceback" not in output
    # INFO lines are logged (stderr, one text line each): which path serves the event store's
    # reads and writes, and why, once per link (issue 12)
    paths = re.findall(
        r"INFO sportcast\.eventstore: event store on nats://127\.0\.0\.1:\d+: (.*)", output
    )
    assert paths, output
    assert all(
        p.startswith(("reads through our", "reads and writes through nats-py")) for p in paths
    )
    assert all("credentials: NKey" in p for p in paths), paths  # the stack's own user
    assert still_running(children) == []
    assert (data_dir / "postgres" / "pgdata" / "PG_VERSION").exists()


def read_side_commands_use_the_stack(data_dir: Path, ports: Ports) -> None:
    """Beside a running stack, with only its data directory and ports, the read side's
    commands use its keys and password, and a query of the DuckDB file the stack holds is
    answered by its gateway."""

    def sportcast(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SPORTCAST, *args], env=ports.env(data_dir), capture_output=True, text=True, timeout=60
        )

    deadline = time.monotonic() + 60
    while True:
        status = sportcast("projections", "status", "--json")
        assert "Traceback" not in status.stderr, status.stderr
        assert status.returncode == 0, status.stdout + status.stderr
        rows = [json.loads(line) for line in status.stdout.splitlines()]
        if all(r["position"] > 0 for r in rows if r["stream"] == "events"):
            break  # every projection following the feed, analytics included, has applied some
        assert time.monotonic() < deadline, rows
        time.sleep(2)
    assert {r["projection"] for r in rows} >= {"fixtures", "odds", "track_record", "analytics"}
    while True:
        query = sportcast("analytics", "query", "feed_freshness", "-p", "since=0")
        assert query.returncode == 0, query.stderr
        fresh = [json.loads(line) for line in query.stdout.splitlines()]
        if fresh:
            break  # the demo's first quotes have reached the analytics tables
        assert time.monotonic() < deadline, "no quote in the analytics tables"
        time.sleep(2)
    assert all(r["quotes"] > 0 and r["source"] for r in fresh)
    analytics = sportcast("analytics", "status")  # the file is held: what the stack copies
    assert analytics.returncode == 0, analytics.stderr
    assert "events" in analytics.stdout
    assert "copies it to PostgreSQL" in analytics.stdout


def test_second_start_resumes_with_stored_events(state_dir: Path, ports: Ports) -> None:
    data_dir = state_dir
    nats_url = f"nats://127.0.0.1:{ports.nats}"
    first = start(data_dir, ports)
    try:
        wait_healthy(first, ports.gateway)
        assert asyncio.run(_publish_and_count(nats_url, publish=True, data_dir=data_dir)) == 1
    finally:
        interrupt(first)
    second = start(data_dir, ports)
    try:
        wait_healthy(second, ports.gateway)
        assert asyncio.run(_publish_and_count(nats_url, publish=False, data_dir=data_dir)) == 1
    finally:
        interrupt(second)


def test_port_in_use_is_a_clear_error_not_a_traceback(tmp_path: Path, ports: Ports) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports.nats))
        squatter.listen()
        result = subprocess.run(
            [SPORTCAST, "up"], env=ports.env(tmp_path), capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 2
    assert "[port-in-use]" in result.stderr
    assert str(ports.nats) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_services_already_running_at_configured_urls_are_used(
    tmp_path: Path, ports: Ports, nats_url: str, postgres_server: object
) -> None:
    from infra.embedded.postgres import EmbeddedPostgres

    assert isinstance(postgres_server, EmbeddedPostgres)
    env = {
        **ports.env(tmp_path / "state"),
        "SPORTCAST_NATS_URL": nats_url,
        "SPORTCAST_POSTGRES_URL": postgres_server.url("sportcast_external"),
    }
    proc = popen_up([], env)
    try:
        wait_healthy(proc, ports.gateway)
        assert not children_named(proc.pid, "nats-server") + children_named(proc.pid, "postgres")
        assert not (tmp_path / "state" / "nats").exists()
    finally:
        interrupt(proc)
