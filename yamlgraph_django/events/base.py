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

    def close(self) -> None:  # noqa: B027 - a log without connections has nothing to do
        """Release connections (the setting changed, or the process ends)."""
