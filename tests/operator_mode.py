"""A nats-server in operator mode (JWT accounts), as deployments that hand out ``.creds`` files
run it: an operator JWT, an account with JetStream signed by the operator, and per role a user
JWT signed by the account, with the role's permissions (infra/natsaccess.py), written with its
seed to a ``.creds`` file as ``nsc`` writes one. JWTs come from the ``nats-jwt`` package on
``nkeys`` (docs/adr/0016)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nkeys
from nats_jwt.nkeys_ext import create_account_pair, create_operator_pair, create_user_pair
from nats_jwt.v2.account_claims import AccountClaims
from nats_jwt.v2.operator_claims import OperatorClaims
from nats_jwt.v2.user_claims import UserClaims

from infra.natsaccess import Role, StreamNames, permissions

UNLIMITED = -1


def creds_file(user_jwt: str, seed: bytes) -> str:
    return (
        f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{seed.decode()}\n------END USER NKEY SEED------\n"
    )


@dataclass
class Operator:
    """The trust chain of one operator with one JetStream account (and the system account)."""

    operator: nkeys.KeyPair
    account: nkeys.KeyPair
    system: nkeys.KeyPair

    @classmethod
    def make(cls) -> Operator:
        return cls(create_operator_pair(), create_account_pair(), create_account_pair())

    def _account_jwt(self, pair: nkeys.KeyPair, name: str, *, jetstream: bool) -> str:
        claims = AccountClaims(pair.public_key.decode(), name)
        if jetstream:
            limits = claims.nats.limits
            limits.memory_storage = limits.disk_storage = UNLIMITED
            limits.streams = limits.consumer = UNLIMITED
        return str(claims.encode(self.operator))

    def server_block(self) -> str:
        """nats-server.conf lines: trust the operator, accounts preloaded in memory."""
        accounts = {
            self.account.public_key.decode(): self._account_jwt(
                self.account, "SPORTCAST", jetstream=True
            ),
            self.system.public_key.decode(): self._account_jwt(self.system, "SYS", jetstream=False),
        }
        operator_jwt = OperatorClaims(self.operator.public_key.decode(), "sportcast-test").encode(
            self.operator
        )
        preload = "\n".join(f"  {key}: {jwt}" for key, jwt in accounts.items())
        return (
            f"operator: {operator_jwt}\n"
            f"system_account: {self.system.public_key.decode()}\n"
            "resolver: MEMORY\n"
            f"resolver_preload: {{\n{preload}\n}}\n"
        )

    def user_creds(self, path: Path, role: Role, streams: StreamNames, *, signer: str = "") -> Path:
        """A ``.creds`` file for a new user of ``role``, signed by the account (or, with
        ``signer="stranger"``, by an account the operator never signed)."""
        user = create_user_pair()
        claims = UserClaims(user.public_key.decode(), role.value)
        allowed = permissions(role, streams)
        claims.nats.pub.allow = list(allowed["publish"]["allow"])
        claims.nats.pub.deny = list(allowed["publish"].get("deny", []))
        claims.nats.sub.allow = list(allowed["subscribe"]["allow"])
        account = create_account_pair() if signer == "stranger" else self.account
        path.write_text(creds_file(str(claims.encode(account)), bytes(user.seed)))
        path.chmod(0o600)
        return path
