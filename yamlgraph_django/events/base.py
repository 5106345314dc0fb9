"""What every event log offers: append a run's parts, read a session's parts from an
offset, trim a session's log. Ids are strings that sort in log order per session."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    """One part of a run's stream, as stored: `id` is the SSE `id:` a client resumes from."""

    id: str
    run_id: int | None
    event: str
    data: Any


class Appended:
    """Wakes this process's readers waiting on a log when a part is appended here: sync
    readers on a condition, async readers (ASGI streams, the WebSocket pump) on their
    event loop, with no thread held while they wait. Appends made by other processes
    wake nobody here: readers look again after their own timeout."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.generation = 0
        self.loops: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def notify(self) -> None:
        with self.condition:
            self.generation += 1
            self.condition.notify_all()
            waiting = list(self.loops)
        for loop, event in waiting:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(event.set)

    def wait(self, seen: int, timeout: float) -> None:
        """Sleep up to `timeout` unless something was appended since `seen`."""
        with self.condition:
            if self.generation == seen:
                self.condition.wait(timeout)

    async def wait_async(self, seen: int, timeout: float) -> None:
        """`wait` on the running event loop: no thread sleeps meanwhile."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self.condition:
            if self.generation != seen:
                return
            self.loops.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter[1].wait(), timeout)
        finally:
            with self.condition:
                self.loops.discard(waiter)


#: The process's one wake-up for readers of its event logs.
appended = Appended()


class InvalidEventId(ValueError):
    """A `Last-Event-ID` (or `after`) that this log never hands out."""


class EventLog(abc.ABC):
    """A per-session, append-only log readable from any process."""

    #: Does it write through the project's database (and so take part in transactions)?
    in_database = False

    @abc.abstractmethod
    def append(
        self, session_id: str, run_id: int | None, parts: Sequence[tuple[str, Any]]
    ) -> list[str]:
        """Append `parts` ((event, JSON data) pairs) in order; return their ids."""

    @abc.abstractmethod
    def read(self, session_id: str, after: str | None = None, *, limit: int = 500) -> list[Event]:
        """The session's events after id `after` (all with None), oldest first."""

    @abc.abstractmethod
    def trim(self, session_ids: Iterable[str]) -> None:
        """Drop the logs of these sessions (they were deleted or pruned)."""

    @abc.abstractmethod
    def check_id(self, event_id: str) -> str:
        """`event_id` if this log could have made it, else InvalidEventId."""

    def wait(self, session_id: str, after: str | None, timeout: float) -> list[Event]:
        """The session's events after `after` once some may have come: as soon as they
        do, or after at most `timeout` seconds (a log may wake sooner; [] then). A
        reader waits on the log instead of sleeping between reads. This default reads
        at once; each log waits on its own wake-up."""
        return self.read(session_id, after)

    def last_id(self, session_id: str) -> str | None:
        """The id of the session's newest event (None for an empty log): where a reader
        that wants only what comes next starts."""
        latest = None
        while batch := self.read(session_id, latest):
            latest = batch[-1].id
        return latest

    def close(self) -> None:  # noqa: B027 - a log without connections has nothing to do
        """Release connections (the setting changed, or the process ends)."""
