"""The objects a process's observable instruments read: each metrics module keeps one
:class:`Observed` of the services it observes (forecasters, trainers, checkpointers, runners).

Held weakly (an object dropped without being stopped is no longer observed) and read as a copy
(a scrape runs on the exporter's thread while services start and stop), skipping those that
``running`` says have stopped.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Observed(Generic[T]):
    def __init__(self, running: Callable[[T], bool] | None = None) -> None:
        self._items: weakref.WeakSet[T] = weakref.WeakSet()
        self._running = running

    def add(self, item: T) -> None:
        self._items.add(item)

    def discard(self, item: T) -> None:
        self._items.discard(item)

    def __iter__(self) -> Iterator[T]:
        running = self._running
        for item in list(self._items):
            if running is None or running(item):
                yield item
