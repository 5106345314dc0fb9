"""What every event log offers: append a run's parts, read a session's parts from an
offset, trim a session's log. Ids are strings that sort in log order per session."""

from __future__ import annotations

import abc
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
