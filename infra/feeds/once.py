"""Publish a message at most once per subject, forever (not just within a duplicate window)."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

_WRONG_LAST_SEQUENCE = 10071
_STREAM_NAME_IN_USE = 10058


async def publish_once(
    js: JetStreamContext, stream: str, subject: str, data: bytes, headers: dict[str, str]
) -> int:
    """Publish on ``subject`` only if nothing was ever published there; return the message's
    stream sequence, the earlier one when it was already there."""
    try:
        ack = await js.publish(
            subject, data, headers={**headers, "Nats-Expected-Last-Subject-Sequence": "0"}
        )
        return int(ack.seq)
    except APIError as exc:
        if exc.err_code != _WRONG_LAST_SEQUENCE:
            raise
    existing = await js.get_last_msg(stream, subject)
    return int(existing.seq or 0)


class AppendOnlyStore:
    """A store of its own stream whose subjects all start with ``prefix``."""

    default_stream = ""
    default_prefix = ""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str | None = None,
        prefix: str | None = None,
        replicas: int = 1,
    ) -> None:
        self.js = js
        self.stream = stream or self.default_stream
        self.prefix = prefix or self.default_prefix
        self.replicas = replicas

    async def ensure_stream(self) -> None:
        await ensure_append_only_stream(
            self.js, name=self.stream, subjects=[f"{self.prefix}.>"], replicas=self.replicas
        )


async def ensure_append_only_stream(
    js: JetStreamContext, *, name: str, subjects: list[str], replicas: int
) -> None:
    """A file-backed stream that denies delete and purge and has no limits."""
    try:
        await js.stream_info(name)
        return  # there already (made at set-up: a service's NATS user may not create streams)
    except NotFoundError:
        pass
    config = StreamConfig(
        name=name,
        subjects=subjects,
        storage=StorageType.FILE,
        num_replicas=replicas,
        deny_delete=True,
        deny_purge=True,
        allow_direct=True,
    )
    try:
        await js.add_stream(config)
    except APIError as exc:
        if exc.err_code != _STREAM_NAME_IN_USE:
            raise
