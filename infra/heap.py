"""The garbage collector of a long-running server process, after its start-up.

A full (generation 2) collection traverses every container object the process holds; most of
a gateway's are its start-up's (modules, classes, functions, the application and its
settings), alive for good. bench_sse measured full collections of 0.4-1.4 s while 10,000
clients connected, each one a pause of every stream and request of the process
(docs/adr/0036). ``gc.freeze()`` moves everything alive into the permanent generation, which
no collection traverses: later full collections only look at what was made since.
"""

from __future__ import annotations

import gc


def freeze_after_startup() -> int:
    """Collect what start-up left as garbage, then freeze every object alive; how many were
    frozen. Call once the process has started (its lifespan, before it serves)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
