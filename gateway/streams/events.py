"""SSE frames, built from the stream events the upstream logs hand over.

A frame is built once per event and its bytes are shared by every subscriber that gets it. The
body (``event:`` and ``data:`` lines) is kept apart from the ``id:`` line so that the rare frame
whose id differs per client (a resume on ``/all``) costs one concatenation, not a re-encoding.
"""

from __future__ import annotations

from readmodels.live import StreamEvent


def frame_body(event: StreamEvent) -> bytes:
    return b"event: " + event.type.encode() + b"\ndata: " + event.data + b"\n\n"


def with_id(event_id: str, body: bytes) -> bytes:
    return b"id: " + event_id.encode() + b"\n" + body


HEARTBEAT = b": heartbeat\n\n"
