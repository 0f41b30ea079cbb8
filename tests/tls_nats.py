"""A nats-server speaking only TLS with client certificates required; its CA and keys are made
for it. The conftest's NKey server and the operator-mode tests differ only in their users."""

from __future__ import annotations

from pathlib import Path

from infra.certs import CertificateFiles
from infra.embedded.nats import EmbeddedNats, NatsConfig
from infra.embedded.nats_users import server_tls
from infra.embedded.ports import free_port


def tls_nats_server(root: Path, authorization: str) -> tuple[EmbeddedNats, CertificateFiles]:
    """An unstarted server under ``root`` with ``authorization`` (an accounts block), and the
    certificates its clients use."""
    certs, tls = server_tls(root / "certs")
    server = EmbeddedNats(
        NatsConfig(
            store_dir=root / "store",
            port=free_port(),
            monitor_port=free_port(),
            sync_always=False,
            tls=tls,
            authorization=authorization,
        )
    )
    return server, certs
