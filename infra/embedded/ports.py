"""Port checks for the embedded services: a taken port is a clear error, never a traceback."""

from __future__ import annotations

import socket
import time


class PortInUseError(RuntimeError):
    """A configured port is already taken by another process."""

    code = "port-in-use"

    def __init__(self, service: str, host: str, port: int, setting: str) -> None:
        super().__init__(
            f"{service} cannot listen on {host}:{port}: the port is already in use. "
            f"Stop the other process, or choose another port with {setting}."
        )
        self.service, self.host, self.port, self.setting = service, host, port, setting


class ServiceStartError(RuntimeError):
    """An embedded service did not become ready."""

    code = "service-start-failed"


def ensure_port_free(service: str, host: str, port: int, setting: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers do: TIME_WAIT leftovers of a previous run must not count as "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            probe.listen(1)
        except OSError as exc:
            raise PortInUseError(service, host, port, setting) from exc


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False
