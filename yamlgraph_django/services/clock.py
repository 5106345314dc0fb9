"""One timer thread per process, for what a run does only if it lasts.

A run that ends in milliseconds (most answers) needs no lease renewal and writes its
events once at its end; starting a heartbeat thread and an event-flush timer for each
such run cost more than the run. So runs schedule that work here instead: a callback
runs on the one clock thread after its delay, unless it was cancelled first (the run
ended). The thread starts with the first callback a process schedules and then waits.

Callbacks must be short (start a thread, write one batch): they run one after another.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("yamlgraph_django.clock")


class Handle:
    """A scheduled callback; `cancel()` before it runs and it never does."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], Any]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """A heap of callbacks worked by one daemon thread, started on first use."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.heap: list[tuple[float, int, Handle]] = []
        self.order = itertools.count()
        self.thread: threading.Thread | None = None

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Handle:
        """Run `callback` on the clock thread in `delay` seconds, unless cancelled."""
        handle = Handle(time.monotonic() + max(delay, 0.0), callback)
        with self.condition:
            heapq.heappush(self.heap, (handle.when, next(self.order), handle))
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self.work, name="yamlgraph-clock", daemon=True
                )
                self.thread.start()
            self.condition.notify()
        return handle

    def work(self) -> None:
        while True:
            with self.condition:
                while not self.heap or self.heap[0][0] > time.monotonic():
                    timeout = self.heap[0][0] - time.monotonic() if self.heap else None
                    self.condition.wait(timeout)
                _when, _order, handle = heapq.heappop(self.heap)
            if handle.cancelled:
                continue
            try:
                handle.callback()
            except Exception:  # one failing callback must not stop the others
                logger.exception("a clock callback failed")


clock = Clock()


def call_later(delay: float, callback: Callable[[], Any]) -> Handle:
    """Run `callback` on the process's clock thread in `delay` seconds (see Clock)."""
    return clock.call_later(delay, callback)


def _forget_in_child() -> None:
    """A forked worker does not inherit the parent's clock thread: it starts its own."""
    global clock
    clock = Clock()


os.register_at_fork(after_in_child=_forget_in_child)
