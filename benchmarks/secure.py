"""``BENCH_SECURE=1``: the benchmarks' nats-servers speak only TLS (client certificates required)
to NKey users, as a production deployment would (docs/adr/0011); every client of the run uses
the admin user's key (the benchmarks create their own streams) over TLS.

Unset, everything stays plain, as before: run both in one sitting to see what TLS + auth cost.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any

from infra.embedded.nats_users import NatsUsers, server_tls
from infra.eventstore.security import NatsSecurity
from infra.nats_identity import use_nats_security
from infra.natsaccess import Role, StreamNames

SECURE = os.environ.get("BENCH_SECURE", "") not in ("", "0")


@functools.cache
def _made() -> tuple[dict[str, Any], NatsSecurity]:
    root = Path(tempfile.mkdtemp(prefix="bench-secure-"))
    certs, tls = server_tls(root / "certs")
    users = NatsUsers(root / "users").ensure()
    options = {"tls": tls, "authorization": users.authorization(StreamNames())}
    return options, users.security(Role.ADMIN, certs)


def server_options() -> dict[str, Any]:
    """Extra NatsConfig fields: TLS and the users (nothing when not secure)."""
    return _made()[0] if SECURE else {}


def security() -> NatsSecurity:
    return _made()[1] if SECURE else NatsSecurity()


def configure() -> str:
    """Make every connect_nats of this process use the run's credentials; the mode's name."""
    use_nats_security(security())
    return "tls+nkey" if SECURE else "plain"


def store_env() -> dict[str, str]:
    """The event store's environment keys for TLS and credentials."""
    return security().as_env()


def nats_options(url: str) -> dict[str, Any]:
    return security().nats_py_options(url)


def settings_fields() -> dict[str, Any]:
    """Settings(...) keyword arguments for the same TLS and credentials."""
    s = security()
    if not SECURE:
        return {}
    return {
        "nats_tls_ca_file": s.tls_ca_file,
        "nats_tls_cert_file": s.tls_cert_file,
        "nats_tls_key_file": s.tls_key_file,
        "nats_nkey_seed_file": s.nkey_seed_file,
    }


def settings_env() -> dict[str, str]:
    """The same as SPORTCAST_ environment variables, for a child process."""
    return {f"SPORTCAST_{k.upper()}": str(v) for k, v in settings_fields().items()}
