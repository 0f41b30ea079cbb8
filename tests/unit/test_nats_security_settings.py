"""NATS TLS and credentials settings: the settings model, the event store's keys, .creds files."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import nkeys
import pytest
from nats.aio.client import Client

from infra.bootstrap import event_store_env
from infra.eventstore.security import (
    NatsCredentialsError,
    NatsSecurity,
    read_creds,
    sign_nonce,
)
from infra.eventstore.settings import EventStoreSettings
from infra.settings import Settings


def user_seed() -> bytes:
    return bytes(nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER))


def creds_file(tmp_path: Path, jwt: str, seed: bytes) -> Path:
    path = tmp_path / "user.creds"
    path.write_text(
        "-----BEGIN NATS USER JWT-----\n"
        f"{jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed.decode()}\n"
        "------END USER NKEY SEED------\n"
    )
    return path


def test_a_creds_file_is_read_as_nats_py_reads_it(tmp_path: Path) -> None:
    seed = user_seed()
    path = creds_file(tmp_path, "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJVIn0.c2ln", seed)
    creds = read_creds(path)
    client = Client()
    assert creds.jwt.encode() == bytes(client._read_creds_user_jwt(str(path)))
    assert creds.seed == bytes(client._read_creds_user_nkey(str(path)))


def test_a_nonce_is_signed_as_the_server_verifies_it() -> None:
    seed = user_seed()
    public, signature = sign_nonce(seed, "nonce-123")
    key = nkeys.from_seed(bytearray(seed))
    assert public == key.public_key.decode()
    assert key.verify(b"nonce-123", base64.b64decode(signature))


def test_connect_fields_per_kind_of_credentials(tmp_path: Path) -> None:
    seed = user_seed()
    seed_file = tmp_path / "u.nk"
    seed_file.write_bytes(seed)
    info = {"nonce": "abc"}
    assert NatsSecurity(user="u", password="p").connect_fields(info) == {"user": "u", "pass": "p"}
    assert NatsSecurity(token="t").connect_fields(info) == {"auth_token": "t"}
    fields = NatsSecurity(nkey_seed_file=str(seed_file)).connect_fields(info)
    assert set(fields) == {"nkey", "sig"}
    fields = NatsSecurity(creds_file=str(creds_file(tmp_path, "J.W.T", seed))).connect_fields(info)
    assert fields["jwt"] == "J.W.T"
    assert "sig" in fields
    with pytest.raises(NatsCredentialsError, match="no nonce"):
        NatsSecurity(nkey_seed_file=str(seed_file)).connect_fields({})


def test_one_kind_of_credentials_and_a_key_with_its_certificate() -> None:
    with pytest.raises(NatsCredentialsError, match="one kind"):
        NatsSecurity(user="u", token="t")
    with pytest.raises(NatsCredentialsError, match="needs its key"):
        NatsSecurity(tls_cert_file="c.pem")
    with pytest.raises(NatsCredentialsError, match=r"not a NATS \.creds"):
        read_creds(Path(__file__))


def test_settings_reach_the_event_store_under_its_own_keys(tmp_path: Path) -> None:
    settings = Settings(
        nats_tls_ca_file=tmp_path / "ca.pem",
        nats_nkey_seed_file=tmp_path / "svc.nk",
        nats_wire=False,
        nats_save_timeout=3.5,
        nats_chain_key="secret",
    )
    env = event_store_env(settings, "tls://127.0.0.1:4222")
    store = EventStoreSettings.from_environment(env)  # type: ignore[arg-type]
    assert store.security == settings.nats_security()
    assert store.security.tls_ca_file == str(tmp_path / "ca.pem")
    assert store.security.nkey_seed_file == str(tmp_path / "svc.nk")
    assert (store.wire, store.save_timeout, store.chain_key) == (False, 3.5, b"secret")


def test_the_event_store_variables_are_still_accepted_under_their_library_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NATS_SAVE_TIMEOUT", "4")
    monkeypatch.setenv("NATS_CHAIN_KEY", "k")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.nats_save_timeout == 4
    assert settings.nats_chain_key is not None
    assert settings.nats_chain_key.get_secret_value() == "k"
    monkeypatch.setenv("SPORTCAST_NATS_SAVE_TIMEOUT", "6")
    assert Settings(_env_file=None).nats_save_timeout == 6  # type: ignore[call-arg]


def test_nats_py_is_given_the_same_tls_and_credentials(tmp_path: Path) -> None:
    security = NatsSecurity(tls_required=True, nkey_seed_file=str(tmp_path / "s.nk"))
    options = security.nats_py_options()
    assert options["nkeys_seed"] == str(tmp_path / "s.nk")
    assert options["tls"] is not None
    assert NatsSecurity().nats_py_options("nats://h:1") == {}
