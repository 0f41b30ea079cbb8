"""The embedded nats-server's users: one NKey per role, generated into the state directory.

Seeds are written 0600 beside the server's data (``<state>/nats-users/<role>.nk``) on first start
and reused afterwards; the server's configuration lists only their public keys, each with its
role's permissions (infra/natsaccess.py). Tests and benchmarks use the same keys with a
certificate authority of their own (infra/certs.py) for TLS.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import nkeys

from infra.certs import CertificateFiles, make_certificates
from infra.embedded.nats import ServerTls
from infra.eventstore.security import NatsSecurity
from infra.natsaccess import Role, StreamNames, authorization_block, embedded_seed_file


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    path.chmod(0o600)


@dataclass(frozen=True)
class NatsUsers:
    """NKey users, one per role, kept in ``directory``."""

    directory: Path

    def seed_file(self, role: Role) -> Path:
        return embedded_seed_file(self.directory, role)

    def ensure(self) -> NatsUsers:
        """Generate the seeds that do not exist yet (0600, in a 0700 directory)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory.chmod(0o700)
        for role in Role:
            path = self.seed_file(role)
            if not path.exists():
                seed = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER)
                _write_private(path, bytes(seed) + b"\n")
        return self

    def public_key(self, role: Role) -> str:
        key = nkeys.from_seed(bytearray(self.seed_file(role).read_bytes().strip()))
        try:
            return str(key.public_key.decode())
        finally:
            key.wipe()

    def authorization(self, streams: StreamNames) -> str:
        """The server's ``authorization`` block for every role's public key."""
        users = [({"nkey": self.public_key(role)}, role) for role in Role]
        return authorization_block(users, streams)

    def security(self, role: Role, certs: CertificateFiles | None = None) -> NatsSecurity:
        """How a process of ``role`` connects (TLS with a client certificate when ``certs``)."""
        if certs is None:
            return NatsSecurity(nkey_seed_file=str(self.seed_file(role)))
        return NatsSecurity(
            nkey_seed_file=str(self.seed_file(role)),
            tls_ca_file=str(certs.ca),
            tls_cert_file=str(certs.client_cert),
            tls_key_file=str(certs.client_key),
        )


def server_tls(directory: Path) -> tuple[CertificateFiles, ServerTls]:
    """A fresh CA and certificates in ``directory``, and the server's TLS block (mutual TLS)."""
    certs = make_certificates(directory)
    return certs, ServerTls(
        cert_file=certs.server_cert, key_file=certs.server_key, ca_file=certs.ca, verify=True
    )
