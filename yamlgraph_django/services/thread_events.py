"""Reading a thread's event log for long-lived streams (the thread-scoped protocol's
`stream/events`, v1 `threads.joinStream`): every run of the thread, from its latest run
(or an offset), until the thread has been idle for a while.

Unlike `run_events.Follower`, which ends with the run it follows, a `ThreadFollower`
stays on the thread across runs, so a client answering a question sees the next run on
the connection it already holds.
"""

from __future__ import annotations

import time
from typing import Any

from yamlgraph_django.events import Event, event_log
from yamlgraph_django.models import Run, RunStatus, SessionEvent
from yamlgraph_django.services.run_events import LogReader

#: A stream with no run active and nothing new for this long closes (the SDK reconnects
#: on its own, with the events it has seen deduplicated).
IDLE_CLOSE_SECONDS = 60.0


def latest_run_pk(session: Any) -> int:
    """The pk of the thread's newest Run row (0 when it has none)."""
    found = Run.objects.filter(session=session).order_by("-pk").values_list("pk", flat=True)
    return found.first() or 0


def start_of_run(session_id: Any, run_pk: int) -> str | None:
    """An offset just before the first logged part of run `run_pk` or later, so a
    stream need not read the thread's older runs; None where the log cannot seek by run
    (Redis: the stream is read from its start and filtered)."""
    if not event_log().in_database or not run_pk:
        return None
    first = (
        SessionEvent.objects.filter(session_id=session_id, run_id__gte=run_pk)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    if first is None:
        return None
    return f"{first - 1}-999999999"  # every part of the row before it is read already


class ThreadFollower(LogReader):
    """Reads a thread's log for a long-lived stream: after `after`, or from run
    `from_run` on (the parts of older runs are skipped), every run after it, until
    nothing has happened and no run is active for `idle_seconds`. Same `poll()`/`done`
    as `run_events.Follower`, so `http_streams.follow` serves it."""

    def __init__(
        self,
        session_id: Any,
        *,
        after: str | None = None,
        from_run: int | None = None,
        idle_seconds: float | None = None,
    ) -> None:
        self.session_id, self.from_run = str(session_id), from_run
        if after is None and from_run:
            after = start_of_run(session_id, from_run)
        elif after is not None:
            event_log().check_id(after)  # InvalidEventId before any byte is sent
        self.after = after
        self.idle_seconds = IDLE_CLOSE_SECONDS if idle_seconds is None else idle_seconds
        self.last_news = time.monotonic()
        self.done = False

    def poll(self) -> list[Event]:
        events = self.next_events()
        if events:
            self.after = events[-1].id
            self.last_news = time.monotonic()
        if self.from_run:
            events = [e for e in events if e.run_id is None or e.run_id >= self.from_run]
        if not events and time.monotonic() - self.last_news > self.idle_seconds:
            if self.run_active():
                self.last_news = time.monotonic()
            else:
                self.done = True
        return events

    def run_active(self) -> bool:
        return Run.objects.filter(
            session_id=self.session_id, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)
        ).exists()
