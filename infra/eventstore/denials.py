"""Permission violations the server reports (``-ERR 'Permissions Violation for Publish to
"x"'``, which nats-py hands its error callback), kept so a failed call can say why."""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict

from infra.eventstore.errors import NatsPermissionDenied

log = logging.getLogger("sportcast.nats")

_VIOLATION = re.compile(
    r"permissions violation for (publish|subscription) (?:to|on) \"?([^\"'\s]+)", re.IGNORECASE
)
_KEPT = 64


def denial_of(error: BaseException | str) -> NatsPermissionDenied | None:
    """The permission violation ``error`` reports, if it is one."""
    found = _VIOLATION.search(str(error))
    if found is None:
        return None
    action = "publish" if found[1].lower() == "publish" else "subscribe"
    return NatsPermissionDenied(action, found[2])


class Denials:
    """The last few violations a connection was told of (thread-safe), each logged once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, NatsPermissionDenied] = OrderedDict()

    def note(self, error: BaseException | str) -> NatsPermissionDenied | None:
        denied = denial_of(error)
        if denied is None:
            return None
        with self._lock:
            new = denied.subject not in self._seen
            self._seen[denied.subject] = denied
            self._seen.move_to_end(denied.subject)
            while len(self._seen) > _KEPT:
                self._seen.popitem(last=False)
        if new:
            log.error("%s", denied)
        return denied

    def under(self, prefix: str) -> NatsPermissionDenied | None:
        """The latest violation on a subject starting with ``prefix`` (nats-py reports it in
        lower case, so case is ignored)."""
        prefix = prefix.lower()
        with self._lock:
            for subject in reversed(self._seen):
                if subject.lower().startswith(prefix):
                    return self._seen[subject]
        return None
