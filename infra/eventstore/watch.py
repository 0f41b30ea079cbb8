"""The stream watch: any change to the configuration of sportcast's streams is an alarm.

An update of a stream with ``max_msgs`` and ``discard: old`` deletes history although the
stream denies delete and purge (issue 13). Service users may not update streams (natsaccess.py),
but the admin may, and a server may be run by others: so the running process watches. It learns
each stream's configuration at start, listens to JetStream's advisories
(``$JS.EVENT.ADVISORY.STREAM.UPDATED.<stream>`` / ``DELETED``), and compares the configuration
again every ``interval`` seconds (an advisory can be missed across a reconnect; in the tests one
was now and then not seen within two seconds, cause unknown): a few small requests a second.
A change is logged at CRITICAL with the code ``stream-config-changed`` and stays in
:meth:`problems` until the process restarts: once a limit was applied, the history it removed
is gone whatever the configuration says now, and someone must look (``sportcast audit
verify``). Readiness (``/readyz``, StreamsReady in the composition root) asks :meth:`problems`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

log = logging.getLogger("sportcast.eventstore.watch")

CODE = "stream-config-changed"
_IGNORED = ("metadata",)  # the server's own bookkeeping (versions), not the stream's behaviour


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in _IGNORED}


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """What differs between two stream configurations: {field: (before, after)}."""
    old, new = _comparable(before), _comparable(after)
    return {
        k: (old.get(k), new.get(k))
        for k in sorted(old.keys() | new.keys())
        if old.get(k) != new.get(k)
    }


class StreamWatch:
    """``await start()``, then :meth:`problems` (empty while nothing changed); ``await stop()``."""

    def __init__(self, nc: NATS, streams: Sequence[str], *, interval: float = 1.0) -> None:
        self._nc = nc
        self._streams = list(dict.fromkeys(streams))
        self._interval = interval
        self._baseline: dict[str, dict[str, Any]] = {}
        self._problems: dict[str, str] = {}
        self._subs: list[Subscription] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def name(self) -> str:
        return "stream-watch"

    def problems(self) -> list[str]:
        """Every alarm raised so far (a failing readiness check while not empty)."""
        return list(self._problems.values())

    async def start(self) -> None:
        for stream in self._streams:
            config = await self._config(stream)
            if config is not None:
                self._baseline[stream] = config
        for kind in ("UPDATED", "DELETED"):
            self._subs.append(
                await self._nc.subscribe(f"$JS.EVENT.ADVISORY.STREAM.{kind}.*", cb=self._advised)
            )
        await self._nc.flush(timeout=5)  # the server has our subscriptions: no advisory missed
        self._stopping = False
        self._task = asyncio.create_task(self._every_interval(), name="stream-watch")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            # A request that completes as the cancellation arrives can swallow it (asyncio.wait_for
            # in 3.11): the loop then ends on the flag, after its sleep. Seen as a `sportcast up`
            # whose shutdown waited here for good.
            await asyncio.wait([self._task], timeout=self._interval + 10)
            self._task = None
        for sub in self._subs:
            with contextlib.suppress(Exception):  # the connection may be closing
                await sub.unsubscribe()
        self._subs.clear()

    async def check(self) -> None:
        """Compare every stream's configuration with the one seen at start (once, now)."""
        for stream in self._streams:
            await self._check(stream, reason="periodic check")

    # -- internals ------------------------------------------------------------------------

    async def _advised(self, msg: Msg) -> None:
        stream = msg.subject.rsplit(".", 1)[-1]
        if stream not in self._streams:
            return
        action = msg.subject.split(".")[-2].lower()  # updated / deleted
        if action == "deleted":
            self._alarm(stream, f"stream {stream} was deleted")
            return
        # Alarm at once; then say what changed (one more round trip to the server).
        self._alarm(stream, f"stream {stream} configuration was changed (advisory)")
        await self._check(stream, reason="advisory", always=True)

    async def _every_interval(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except (nats.errors.Error, TimeoutError) as exc:  # unreachable: checked next time
                log.debug("stream watch could not check: %s", exc)

    async def _check(self, stream: str, *, reason: str, always: bool = False) -> None:
        config = await self._config(stream)
        before = self._baseline.get(stream)
        if config is None:
            if before is not None:
                self._alarm(stream, f"stream {stream} is gone ({reason})")
            return
        if before is None:  # made after this process started (set-up): watched from now on
            self._baseline[stream] = config
            return
        changes = config_changes(before, config)
        if changes or always:
            shown = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changes.items())
            self._alarm(
                stream,
                f"stream {stream} configuration was changed ({reason}): {shown or 'updated'}",
            )

    async def _config(self, stream: str) -> dict[str, Any] | None:
        reply = await self._nc.request(f"$JS.API.STREAM.INFO.{stream}", b"", timeout=5)
        info: dict[str, Any] = json.loads(reply.data)
        if "error" in info:
            return None
        config: dict[str, Any] = info["config"]
        return config

    def _alarm(self, stream: str, text: str) -> None:
        message = f"[{CODE}] {text}; events may have been removed: run `sportcast audit verify`"
        if self._problems.get(stream) != message:
            log.critical("ALERT %s", message)
        self._problems[stream] = message
