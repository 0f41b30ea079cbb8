"""How every NATS connection of a process proves who it is and protects the wire.

One value, :class:`NatsSecurity`, holds TLS (CA, optional client certificate and key,
``tls_required``) and the credentials users deploy (user/password, token, an NKey seed file, a
``.creds`` file holding a user JWT and its NKey seed). nats-py is given it as its own connect
options; our own protocol clients (wire.py, wire_publish.py) wrap their sockets with the same
:class:`ssl.SSLContext` and answer the server's nonce with :meth:`connect_fields`, signed with
the ``nkeys`` package as nats-py signs it. The event store reads it from eventsourcing's
environment (keys below), so every Application and recorder sees what the process was given.
"""

from __future__ import annotations

import base64
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import nkeys

# eventsourcing environment keys (the settings model maps its fields onto them).
NATS_TLS_CA_FILE = "NATS_TLS_CA_FILE"
NATS_TLS_CERT_FILE = "NATS_TLS_CERT_FILE"
NATS_TLS_KEY_FILE = "NATS_TLS_KEY_FILE"
NATS_TLS_REQUIRED = "NATS_TLS_REQUIRED"
NATS_USER = "NATS_USER"
NATS_PASSWORD = "NATS_PASSWORD"  # noqa: S105 - the name of a key, not a password
NATS_TOKEN = "NATS_TOKEN"  # noqa: S105
NATS_NKEY_SEED_FILE = "NATS_NKEY_SEED_FILE"
NATS_CREDS_FILE = "NATS_CREDS_FILE"

_ENV_KEYS = {
    "tls_ca_file": NATS_TLS_CA_FILE,
    "tls_cert_file": NATS_TLS_CERT_FILE,
    "tls_key_file": NATS_TLS_KEY_FILE,
    "tls_required": NATS_TLS_REQUIRED,
    "user": NATS_USER,
    "password": NATS_PASSWORD,
    "token": NATS_TOKEN,
    "nkey_seed_file": NATS_NKEY_SEED_FILE,
    "creds_file": NATS_CREDS_FILE,
}

_CREDS_BLOCK = re.compile(
    r"-{3,}BEGIN (NATS USER JWT|USER NKEY SEED)-{3,}\s*\n\s*(\S+)\s*\n\s*-{3,}END", re.MULTILINE
)


class NatsCredentialsError(ValueError):
    """The configured credentials cannot be used (unreadable file, bad seed, mixed kinds)."""


@dataclass(frozen=True, kw_only=True)
class Creds:
    """What a ``.creds`` file holds: the user's JWT and the NKey seed that signs for it."""

    jwt: str
    seed: bytes


def read_creds(path: str | Path) -> Creds:
    """Parse a ``.creds`` file as ``nsc`` writes it (the decorated JWT and seed blocks)."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise NatsCredentialsError(f"cannot read NATS credentials file {path}: {exc}") from exc
    blocks = {kind: value for kind, value in _CREDS_BLOCK.findall(text)}
    if "NATS USER JWT" not in blocks or "USER NKEY SEED" not in blocks:
        raise NatsCredentialsError(f"{path} is not a NATS .creds file (JWT and seed blocks)")
    return Creds(jwt=blocks["NATS USER JWT"], seed=blocks["USER NKEY SEED"].encode())


def _read_seed(path: str) -> bytes:
    try:
        return Path(path).read_bytes().strip()
    except OSError as exc:
        raise NatsCredentialsError(f"cannot read NKey seed file {path}: {exc}") from exc


def sign_nonce(seed: bytes, nonce: str) -> tuple[str, str]:
    """(public key, signature) answering ``nonce`` as nats-py does (standard base64)."""
    try:
        key = nkeys.from_seed(bytearray(seed))
    except Exception as exc:  # nkeys raises its own ErrInvalidSeed & co.
        raise NatsCredentialsError(f"not a valid NKey seed: {exc}") from exc
    try:
        signature = base64.b64encode(key.sign(nonce.encode())).decode()
        return key.public_key.decode(), signature
    finally:
        key.wipe()


@dataclass(frozen=True, kw_only=True)
class NatsSecurity:
    """TLS and credentials for every NATS connection (all empty: plain, anonymous)."""

    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_required: bool = False
    user: str = ""
    password: str = ""
    token: str = ""
    nkey_seed_file: str = ""
    creds_file: str = ""

    def __post_init__(self) -> None:
        kinds = [k for k in ("user", "token", "nkey_seed_file", "creds_file") if getattr(self, k)]
        if len(kinds) > 1:
            raise NatsCredentialsError(f"configure one kind of NATS credentials, not {kinds}")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise NatsCredentialsError("a TLS client certificate needs its key, and the reverse")

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | Any) -> NatsSecurity:
        """From eventsourcing's Environment (or any mapping with ``get``)."""
        values: dict[str, Any] = {}
        for name, key in _ENV_KEYS.items():
            raw = env.get(key) or ""
            if name == "tls_required":
                values[name] = raw.strip().lower() in ("1", "true", "yes", "y", "on")
            else:
                values[name] = raw
        return cls(**values)

    def as_env(self) -> dict[str, str]:
        """The environment keys :meth:`from_environment` reads (only those set)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value:
                out[_ENV_KEYS[f.name]] = "yes" if value is True else str(value)
        return out

    # -- what is configured ---------------------------------------------------------------

    @property
    def credentials(self) -> str:
        """Which kind of credentials, for the start-up log: never the secret itself."""
        if self.creds_file:
            return "creds file (JWT + NKey)"
        if self.nkey_seed_file:
            return "NKey"
        if self.user:
            return "user/password"
        if self.token:
            return "token"
        return "none"

    def wants_tls(self, url: str = "") -> bool:
        return bool(self.tls_required or self.tls_ca_file or self.tls_cert_file or "tls://" in url)

    def ssl_context(self) -> ssl.SSLContext:
        """Verifies the server (against the CA file, else the system's) and presents the
        client certificate when one is configured."""
        context = ssl.create_default_context(cafile=self.tls_ca_file or None)
        if self.tls_cert_file:
            context.load_cert_chain(self.tls_cert_file, self.tls_key_file)
        return context

    # -- nats-py ----------------------------------------------------------------------------

    def nats_py_options(self, url: str = "") -> dict[str, Any]:
        """Keyword arguments for ``nats.connect`` (TLS and credentials)."""
        options: dict[str, Any] = {}
        if self.wants_tls(url):
            options["tls"] = self.ssl_context()
        if self.user:
            options["user"], options["password"] = self.user, self.password
        if self.token:
            options["token"] = self.token
        if self.nkey_seed_file:
            options["nkeys_seed"] = self.nkey_seed_file
        if self.creds_file:
            options["user_credentials"] = self.creds_file
        return options

    # -- our own protocol clients -----------------------------------------------------------

    def connect_fields(self, info: Mapping[str, Any]) -> dict[str, Any]:
        """The credentials part of a ``CONNECT`` answering the server's ``INFO``."""
        if self.user:
            return {"user": self.user, "pass": self.password}
        if self.token:
            return {"auth_token": self.token}
        if not (self.nkey_seed_file or self.creds_file):
            return {}
        nonce = info.get("nonce")
        if not nonce:
            raise NatsCredentialsError("the server sent no nonce to sign (no NKey auth there)")
        if self.creds_file:
            creds = read_creds(self.creds_file)
            _, signature = sign_nonce(creds.seed, str(nonce))
            return {"jwt": creds.jwt, "sig": signature}
        public, signature = sign_nonce(_read_seed(self.nkey_seed_file), str(nonce))
        return {"nkey": public, "sig": signature}
