"""Create (or check) the append-only stream through the raw ``$JS.API`` JSON API.

The raw API is used because nats-py 2.16's ``StreamConfig`` cannot express every field we rely
on across server versions; the JSON is the server's own contract.
"""

from __future__ import annotations

import json
from typing import Any

import nats.errors
from nats.aio.client import Client as NATS

from infra.eventstore.errors import StreamMisconfigured
from infra.eventstore.subjects import SubjectLayout

_STREAM_NAME_IN_USE = 10058
_STREAM_NOT_FOUND = 10059

# What immutability and atomicity require of an existing stream (docs/adr/0004).
_REQUIRED: dict[str, Any] = {
    "deny_delete": True,
    "deny_purge": True,
    "allow_atomic": True,
    "allow_direct": True,
    "allow_rollup_hdrs": False,
    "max_age": 0,
    "max_bytes": -1,
    "max_msgs": -1,
    "max_msgs_per_subject": -1,
}


def stream_config(
    layout: SubjectLayout, *, replicas: int, duplicate_window: float
) -> dict[str, Any]:
    return {
        "name": layout.stream,
        "subjects": [layout.all_subjects],
        "storage": "file",
        "retention": "limits",
        "discard": "new",  # never drop old events, whatever happens to the limits
        "num_replicas": replicas,
        "duplicate_window": int(duplicate_window * 1e9),
        # Header-only copies of each stored event on a subject outside the stream: wake-ups for
        # subscribers, sent only once an event (or a whole atomic batch) is stored.
        "republish": {"src": layout.events, "dest": layout.notify, "headers_only": True},
        **_REQUIRED,
    }


async def ensure_stream(
    nc: NATS, layout: SubjectLayout, *, replicas: int, duplicate_window: float, create: bool
) -> None:
    # Check first, create only what is missing: a service's NATS user may read a stream's
    # configuration but not create one (infra/natsaccess.py); the admin's set-up creates them.
    info = await _stream_info(nc, layout)
    if info.get("error", {}).get("err_code") == _STREAM_NOT_FOUND and create:
        config = stream_config(layout, replicas=replicas, duplicate_window=duplicate_window)
        try:
            reply = await nc.request(
                f"$JS.API.STREAM.CREATE.{layout.stream}", json.dumps(config).encode(), timeout=10
            )
        except nats.errors.TimeoutError:
            raise StreamMisconfigured(
                f"stream {layout.stream} does not exist and was not created in time; a service's "
                "NATS user may not create streams: run `sportcast nats setup` as the admin user"
            ) from None
        error = json.loads(reply.data).get("error")
        if error is not None and error.get("err_code") != _STREAM_NAME_IN_USE:
            raise StreamMisconfigured(
                f"cannot create stream {layout.stream}: {error.get('description')}"
            )
        info = await _stream_info(nc, layout)
    check_config(layout, info)


async def _stream_info(nc: NATS, layout: SubjectLayout) -> dict[str, Any]:
    reply = await nc.request(f"$JS.API.STREAM.INFO.{layout.stream}", b"", timeout=10)
    info: dict[str, Any] = json.loads(reply.data)
    return info


async def check_stream(nc: NATS, layout: SubjectLayout) -> None:
    check_config(layout, await _stream_info(nc, layout))


def check_config(layout: SubjectLayout, info: dict[str, Any]) -> None:
    """Refuse a stream that is missing or cannot hold an immutable event log."""
    if "error" in info:
        raise StreamMisconfigured(
            f"stream {layout.stream} is not usable: {info['error'].get('description')}"
        )
    wrong = immutability_violations(layout, info["config"])
    if wrong:
        raise StreamMisconfigured(
            f"stream {layout.stream} exists but cannot hold an immutable event log: {wrong}"
        )


def immutability_violations(layout: SubjectLayout, config: dict[str, Any]) -> dict[str, Any]:
    """The settings of ``config`` that break what ADR 0004 requires (empty: none)."""
    wrong = {k: config.get(k) for k, v in _REQUIRED.items() if config.get(k) != v}
    if layout.all_subjects not in config.get("subjects", []):
        wrong["subjects"] = config.get("subjects")
    return wrong
