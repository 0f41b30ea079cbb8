"""`sportcast up` as an outside tester probed it (issue 13, items 6, 8, 9, 10, 14)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from infra.embedded.ports import free_port
from tests.e2e.test_sportcast_up import (
    SPORTCAST,
    Ports,
    children_named,
    interrupt,
    output_of,
    popen_up,
    still_running,
    wait_healthy,
)
from tests.e2e.test_sportcast_up import ports as ports

pytestmark = pytest.mark.slow

TOKEN = "e2e-token"
SCHEDULED = {
    "type": "scheduled",
    "event_id": "e2e-1",
    "sport": "football",
    "competition": "premier-league",
    "season": "2015-2016",
    "home": "Arsenal",
    "away": "Spurs",
    "kickoff": "2016-03-05T12:45:00Z",
}


def start_with_tokens(data_dir: Path, ports: Ports) -> subprocess.Popen[str]:
    env = {
        **ports.env(data_dir),
        "SPORTCAST_FEED_TOKENS": f'{{"{TOKEN}": "e2e"}}',
        "SPORTCAST_SUPERVISE_BACKOFF_SECONDS": "0.5",
    }
    return popen_up(["--demo-speed", "0"], env)


@pytest.fixture
def running(state_dir: Path, ports: Ports) -> Iterator[tuple[subprocess.Popen[str], Path, Ports]]:
    proc = start_with_tokens(state_dir, ports)
    try:
        wait_healthy(proc, ports.gateway)
        yield proc, state_dir, ports
    finally:
        if proc.poll() is None:
            interrupt(proc)


def test_a_second_stack_on_the_same_data_dir_is_refused_before_touching_it(
    running: tuple[subprocess.Popen[str], Path, Ports],
) -> None:
    proc, data_dir, ports = running
    conf = data_dir / "nats" / "nats-server.conf"
    before = conf.read_text()
    others = Ports(free_port(), free_port(), free_port(), free_port())
    second = subprocess.run(
        [SPORTCAST, "up"], env=others.env(data_dir), capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 2
    assert "[data-dir-in-use]" in second.stderr
    assert str(proc.pid) in second.stderr
    assert "Traceback" not in second.stderr + second.stdout
    assert conf.read_text() == before
    assert httpx.get(f"http://127.0.0.1:{ports.gateway}/health", timeout=5).status_code == 200


def test_postgres_asks_for_a_generated_password_and_logs_no_unknown_role(
    running: tuple[subprocess.Popen[str], Path, Ports],
) -> None:
    _, data_dir, ports = running
    secret = data_dir / "postgres" / "password"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    password = secret.read_text().strip()
    assert len(password) >= 32
    hba = (data_dir / "postgres" / "pgdata" / "pg_hba.conf").read_text()
    rules = [line for line in hba.splitlines() if line.strip() and not line.startswith("#")]
    assert rules
    assert all(line.split()[-1] == "scram-sha-256" for line in rules), rules

    async def connect(password: str | None) -> str:
        conn = await asyncpg.connect(
            host="127.0.0.1", port=ports.postgres, user="postgres", password=password
        )
        try:
            return str(await conn.fetchval("SELECT current_user"))
        finally:
            await conn.close()

    with pytest.raises(
        (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)
    ):
        asyncio.run(connect(None))
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(connect("wrong"))
    assert asyncio.run(connect(password)) == "postgres"
    log = (data_dir / "postgres" / "postgres.log").read_text()
    assert 'role "root" does not exist' not in log
    assert "role" not in " ".join(line for line in log.splitlines() if "does not exist" in line)


def test_quarantine_list_without_a_stack_is_one_clear_line(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SPORTCAST_")},
        "SPORTCAST_NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "SPORTCAST_STATE_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [SPORTCAST, "feed", "quarantine", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "[nats-unreachable]" in lines[0]


OURS = (
    "infra/embedded/",
    "gateway/ingest/",
    "infra/following.py",
    "infra/feed_health.py",
    "infra/connection_state.py",
    "infra/cli.py",
    "infra/cli_up.py",
    "infra/cli_common.py",
    "infra/store_check.py",
)


def no_traceback_of_ours(output: str) -> None:
    """No traceback passes through the code under test. (Others may log one: the SSE hub logs
    a traceback each time it fails to follow a log while NATS is down; not ours to change.)"""
    frames = [line for line in output.splitlines() if line.strip().startswith('File "')]
    assert [f for f in frames if any(part in f for part in OURS)] == [], output


def _post(port: int) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{port}/feeds/fixtures",
        json=SCHEDULED,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )


def test_a_killed_nats_server_is_restarted_and_ingest_says_503_meanwhile(
    running: tuple[subprocess.Popen[str], Path, Ports],
) -> None:
    proc, _, ports = running
    nats_children = children_named(proc.pid, "nats-server")
    assert len(nats_children) == 1
    # Stop it first so the outage is certain while we probe, then kill it outright.
    nats_children[0].send_signal(signal.SIGSTOP)
    nats_children[0].kill()
    nats_children[0].wait(10)
    began = time.monotonic()
    answer = _post(ports.gateway)
    took = time.monotonic() - began
    if answer.status_code != 202:  # unless the restart already happened
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "store-unavailable"
        assert int(answer.headers["Retry-After"]) >= 1
        assert took < 5.0  # at once: well inside the 10 s a save keeps trying for
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, "sportcast up exited instead of restarting nats-server"
        restarted = children_named(proc.pid, "nats-server")
        if restarted and restarted[0].pid != nats_children[0].pid:
            answer = _post(ports.gateway)
            if answer.status_code == 202:
                break
        assert time.monotonic() < deadline, "nats-server was not restarted in 60 s"
        time.sleep(0.5)
    output = interrupt(proc)
    assert "restarting nats-server" in output
    # One line per change of state, not one per reconnect attempt.
    # One line per connection and change of state (the stack holds about a dozen connections;
    # a line per reconnect attempt, every 0.1-0.5 s, would be hundreds).
    assert output.count("lost its NATS connection") <= 24, output
    no_traceback_of_ours(output)


def test_a_child_that_cannot_be_restarted_stops_the_stack_with_a_clear_message(
    running: tuple[subprocess.Popen[str], Path, Ports],
) -> None:
    proc, _, ports = running
    (nats_child,) = children_named(proc.pid, "nats-server")
    postgres_children = children_named(proc.pid, "postgres")
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        nats_child.kill()
        nats_child.wait(10)
        squatter.bind(("127.0.0.1", ports.nats))  # every restart now finds its port taken
        squatter.listen()
        said = output_of(proc, timeout=120)
    assert proc.returncode == 1, said
    assert "[child-failed]" in said
    assert "nats-server" in said
    no_traceback_of_ours(said)
    assert still_running(postgres_children) == []


def test_up_refuses_a_store_cut_short_and_runs_degraded_only_when_told(
    running: tuple[subprocess.Popen[str], Path, Ports],
) -> None:
    proc, data_dir, ports = running
    for n in range(12):
        body = {**SCHEDULED, "event_id": f"m{n}", "home": f"Marker-Team-{n:02d}"}
        answer = httpx.post(
            f"http://127.0.0.1:{ports.gateway}/feeds/fixtures",
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
    interrupt(proc)  # a clean stop records the streams' heads
    assert (data_dir / "store-heads.json").exists()
    [block] = sorted((data_dir / "nats").rglob("streams/SPORTCAST_EVENTS/msgs/*.blk"))
    data = bytearray(block.read_bytes())
    data[data.index(b"Marker-Team-03") + 2] ^= 0xFF
    block.write_bytes(bytes(data))
    for index in (data_dir / "nats").rglob("streams/SPORTCAST_EVENTS/msgs/index.db"):
        index.unlink()  # as after a crash: the server rebuilds the stream from its blocks

    refused = subprocess.run(
        [SPORTCAST, "up", "--demo-speed", "0"],
        env=ports.env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "[store-damaged]" in refused.stderr
    assert "SPORTCAST_EVENTS: truncated" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout

    degraded = popen_up(["--demo-speed", "0", "--accept-damage"], ports.env(data_dir))
    try:
        wait_healthy(degraded, ports.gateway)
    finally:
        output = interrupt(degraded)
    assert "STORE DAMAGED: SPORTCAST_EVENTS: truncated" in output
