"""The cyclic garbage collector held off while a bulk read builds its records.

A read of 10,000 events allocates 10,000 GC-tracked records that all survive to the end of the
read, so the collector runs over them again and again while they are built: ~14 young
collections, one or two middle ones and, as they pile up, full collections over every object
in the process (measured 50-150 ms each in the benchmark: the aggregate-load p99). The records
hold no cycles and usually die by reference counting soon after the read, so collecting during
the read finds nothing. Held off, the collector runs at most once afterwards, as usual.

Process-wide, as ``gc`` is: the collector is re-enabled only by the outermost read that found it
enabled, so an application that disabled it keeps it disabled. Reads on several threads nest.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0  # reads in progress that hold the collector off
_reenable = False  # whether the last of them turns it back on


@contextmanager
def gc_held() -> Iterator[None]:
    global _holders, _reenable
    with _lock:
        if _holders == 0:
            _reenable = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _reenable:
                gc.enable()
