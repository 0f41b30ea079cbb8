"""A write to a connection run to its end by the caller, without a task when it need not wait.

An ASGI server's ``send`` of a body chunk normally finishes without suspending: it hands the
bytes to the socket's transport and returns. It waits only while the transport's buffer is
above its high-water mark (uvicorn: ``FlowControl.drain``). Awaited from a task per connection,
every frame of every client is a task wake-up, and the upstream reader waits in the event
loop's ready queue behind all of them (issue 15, docs/adr/0029). ``write_now`` runs the send's
coroutine in the caller (the hub's fan-out) and only when it suspends does a task take it over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from starlette.types import Message

AsgiSend = Callable[[Message], Awaitable[None]]


def body(chunk: bytes, *, more: bool = True) -> Message:
    return {"type": "http.response.body", "body": chunk, "more_body": more}


def write_now(send: AsgiSend, message: Message) -> asyncio.Future[None] | None:
    """Send ``message``: None when it was handed to the transport at once, else the task that
    finishes sending it once the transport drains. An exception ``send`` raises at once is
    raised here."""
    coro = send(message)
    if not isinstance(coro, Coroutine):  # an awaitable that is not a coroutine: await it
        return asyncio.ensure_future(coro)
    try:
        waiting = coro.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_finish(coro, waiting))


async def _finish(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Go on with ``coro`` where it suspended, as a task would (asyncio's protocol: it yielded
    the future it waits for, or None for one turn of the loop)."""
    try:
        while True:
            if waiting is None:
                await asyncio.sleep(0)
            elif isinstance(waiting, asyncio.Future):
                waiting._asyncio_future_blocking = False
                await asyncio.wait({waiting})  # its outcome is the coroutine's to see
            else:  # pragma: no cover - not an asyncio awaitable
                raise RuntimeError(f"send yielded {waiting!r}")
            waiting = coro.send(None)
    except StopIteration:
        return
    finally:
        coro.close()
