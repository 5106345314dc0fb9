"""A run's LangGraph stream, shaped as JSON parts and written to the event log.

Every run (in a request, on a worker, a LangGraph-protocol run) iterates the graph with
`graph_parts` (in the engine's one run loop), which publishes each part (`values`,
`updates`, `messages` token chunks, `custom`) through a `Publisher`, between our own
`metadata` first and `error`/`end` last. Parts are written in batches, one per graph step (token chunks at most every
FLUSH_SECONDS), so a short run costs a few INSERTs (or one Redis pipeline each), and a
reader anywhere sees a step as soon as it is done. The same loop looks between steps
for a stop request on the run's row (cancel, `multitask_strategy: interrupt`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from django.db import connections, router
from django.db.models import Count, Max, Q

from yamlgraph.answers import inbox_card
from yamlgraph.graph_loader import DEFAULTS_NODE
from yamlgraph_django import metrics, tracing
from yamlgraph_django.conf import app_settings
from yamlgraph_django.events import Event, event_log
from yamlgraph_django.logging_context import log_context
from yamlgraph_django.models import (
    Run,
    RunControl,
    RunKind,
    RunStatus,
    Session,
    SessionEvent,
    SessionStatus,
)
from yamlgraph_django.services import clock
from yamlgraph_django.services.snapshots import json_safe

logger = logging.getLogger("yamlgraph_django.services")

#: The LangGraph stream modes every run produces (and the event log keeps).
STREAM_MODES = ("values", "updates", "messages", "custom")
#: A run in a request looks for a stop request at every step boundary once it has run
#: this long (one small query a step), so the fast path costs no query for it; a run on
#: a worker (`Publisher(on_worker=True)`) looks at every boundary: never a step late.
STOP_CHECK_SECONDS = 0.2
#: `Run.control` values that ask a running run to stop at its next step.
STOP_REQUESTED = RunControl.INTERRUPT
CANCEL_REQUESTED = RunControl.CANCEL
#: The event that closes each run's part of the log.
END = "end"


def interrupt_dict(interrupt: Any) -> dict[str, Any]:
    """An interrupt as LangGraph's clients read it, {id, value}, with a plain question's
    agent-inbox card next to `value` (agent-inbox offers it as Respond only)."""
    value = json_safe(interrupt.value)
    return {"id": interrupt.id, "value": value, **inbox_card(value)}


def public_values(values: Any) -> Any:
    """State values without the engine's private keys (a leading underscore); pending
    interrupts (`__interrupt__`) as [{id, value}]."""
    if not isinstance(values, Mapping):
        return json_safe(values)
    return json_safe(
        {
            k: ([interrupt_dict(i) for i in v] if k == "__interrupt__" else v)
            for k, v in values.items()
            if not str(k).startswith("_") or k == "__interrupt__"
        }
    )


def shape_part(mode: str, chunk: Any) -> Any:
    """One LangGraph stream chunk as the JSON the log stores and clients receive."""
    if mode == "values":
        return public_values(chunk)
    if mode == "messages":
        message, metadata = chunk
        return [json_safe(message), json_safe(metadata)]
    if mode != "updates" or not isinstance(chunk, Mapping):
        return json_safe(chunk)
    shaped = {}
    for node, update in chunk.items():
        if node == "__interrupt__":
            shaped[node] = [interrupt_dict(i) for i in update]
        elif node == DEFAULTS_NODE or update is None:
            shaped[node] = public_values(update) if update is not None else None
        else:
            shaped[node] = public_values(update)
    return shaped


class Publisher:
    """Buffers one run's parts and appends them to the session's log in batches.

    A batch is written EVENTS_FLUSH_SECONDS after its first part (on the process's clock
    thread, services.clock, so a step
    shows up even while the next one runs for minutes), or at once with `flush`: a run
    shorter than that costs one write in all (so does a run inside a transaction on the
    log's database: `in_transaction_with_log`). The log is a view of the run, not its
    record (rows and checkpoints are): if it is unreachable the run goes on and the
    parts are dropped, with a warning.
    """

    def __init__(
        self, session_id: Any, run_id: int | None, *, each: bool = False, on_worker: bool = False
    ) -> None:
        """`each`: write every part at once (a stream that hands out the log's ids);
        `on_worker`: look for a stop request at every step boundary (see STOP_CHECK_SECONDS)."""
        self.session_id, self.run_id, self.each = str(session_id), run_id, each
        self.check_after = 0.0 if on_worker else STOP_CHECK_SECONDS
        self.pending: list[tuple[str, Any]] = []
        self.first_pending_at = 0.0  # when the oldest part not yet written happened
        self.lock = threading.Lock()
        self.timer: clock.Handle | None = None  # the batch's flush on the clock thread
        self.failed = False
        self.deferred = in_transaction_with_log()

    def publish(self, event: str, data: Any, *, flush: bool = False) -> list[str]:
        """Queue a part; returns the ids written now (none unless `flush` or `each`)."""
        with self.lock:
            if not self.pending:
                self.first_pending_at = time.monotonic()
            self.pending.append((event, data))
            if not (flush or self.each or self.deferred) and self.timer is None:
                delay = float(app_settings.EVENTS_FLUSH_SECONDS)
                self.timer = clock.call_later(delay, self.flush_later)
        return self.flush() if flush or self.each else []

    def flush_later(self) -> None:
        try:
            self.flush()
        finally:
            connections.close_all()  # the clock thread's own connection

    def flush(self) -> list[str]:
        with self.lock:
            parts, self.pending = self.pending, []
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if not parts or self.failed:
                return []
            try:
                ids = event_log().append(self.session_id, self.run_id, parts)
                metrics.event_log_lag(time.monotonic() - self.first_pending_at)
                return ids
            except Exception:
                metrics.store_error("events")
                self.failed = True  # one warning per run, not one per step
                logger.warning(
                    "event log unavailable: run %s streams no events", self.run_id, exc_info=True
                )
                return []


def in_transaction_with_log() -> bool:
    """Does this thread run inside a transaction on the database that holds the log (a
    project's ATOMIC_REQUESTS, a caller's `atomic()`)? Then the parts are written on
    this thread, at the run's end: a timer thread's INSERT on its own connection would
    wait for the transaction (SQLite locks the whole database for its busy timeout)
    and could outlive a rollback; nobody else sees the run before the commit anyway."""
    if not event_log().in_database:
        return False
    return connections[router.db_for_write(SessionEvent)].in_atomic_block


def stop_request(run_id: int | None) -> str | None:
    """The `RunControl` someone asked of this run (interrupt, rollback, cancel), else None."""
    return Run.objects.control_of(run_id) or None


#: The mode `graph_parts` yields (with the stop request as data) when a stop ended it.
STOPPED = "__stopped__"


def graph_parts(
    app: Any,
    graph_input: Any,
    config: dict[str, Any],
    publisher: Publisher,
    *,
    durability: str,
    modes: tuple[str, ...] = STREAM_MODES,
    **stream_options: Any,
) -> Iterator[tuple[str, Any, list[str]]]:
    """Run the graph to its next stop, publishing each part, and yield (mode, data, ids
    written now). A stop request ends it early with (STOPPED, the request, []): the
    checkpoints so far stay. Closing the generator stops the graph at once.

    Log records of the run carry its session and run ids; with opentelemetry installed,
    the run and its nodes are spans (`yamlgraph_django.tracing`)."""
    graph_name = (config.get("metadata") or {}).get("graph_id")  # None: read when traced
    config = tracing.traced_config(config, graph_name, publisher.session_id, publisher.run_id)
    stream = app.stream(
        graph_input, config, stream_mode=list(modes), durability=durability, **stream_options
    )
    started = time.monotonic()
    context = log_context(publisher.session_id, publisher.run_id)
    context.__enter__()
    try:
        for mode, chunk in stream:
            data = shape_part(mode, chunk)
            yield mode, data, publisher.publish(mode, data)
            # Only right after a step's `values`: its checkpoint, with the next tasks, is
            # saved then; closing the stream between `updates` and `values` would leave
            # a checkpoint with nothing next (the run would look finished).
            if mode == "values" and time.monotonic() - started >= publisher.check_after:
                stop = stop_request(publisher.run_id)
                if stop is not None:
                    yield STOPPED, stop, []
                    return
    finally:
        stream.close()  # the caller's `end` (flush=True) writes what is still buffered
        with contextlib.suppress(ValueError, RuntimeError):  # closed from another context
            context.__exit__(None, None, None)


def read_events(session_id: Any, after: str | None = None, *, limit: int = 500) -> list[Event]:
    """The session's logged parts after id `after` (InvalidEventId for a foreign id)."""
    return event_log().read(str(session_id), after, limit=limit)


def trim_events(session_ids: Iterator[Any] | list[Any]) -> None:
    """Drop the logs of deleted sessions; a log that is down keeps them (logged)."""
    try:
        event_log().trim([str(s) for s in session_ids])
    except Exception:
        logger.warning("could not trim the event log", exc_info=True)


class LogReader:
    """A reader of one session's log from `after` on that waits on the log between
    reads (`wait`, no sleep); `next_events` hands out what the wait read, else reads."""

    session_id: str
    after: str | None
    waited: list[Event] | None = None

    def wait(self, timeout: float) -> None:
        """Wait until more may have come, at most `timeout` seconds."""
        self.waited = event_log().wait(self.session_id, self.after, timeout)

    def next_events(self) -> list[Event]:
        events, self.waited = self.waited, None
        return read_events(self.session_id, self.after) if events is None else events


class Follower(LogReader):
    """Reads a session's log from an offset, as a live stream does: what is there, then
    what comes, until the run asked for (`run_id`) or every run has ended.

    `poll()` is one read (one query or XRANGE) and says whether the stream is done; the
    sync and async streams around it only differ in how they wait between polls.
    """

    #: After the session looks idle with no `end` seen, how long to wait for a late one.
    SETTLE_SECONDS = 3.0

    def __init__(self, session_id: Any, after: str | None = None, run_id: int | None = None):
        self.session_id, self.after, self.run_id = str(session_id), after, run_id
        if after is not None:
            event_log().check_id(after)  # InvalidEventId before any byte is sent
        self.done = False
        self.ended_last = False
        self.last_ended_run: int | None = None  # the run of the last `end` read
        self.newest_run: int | None = None  # the session's newest run, as last looked up
        self.idle_since: float | None = None

    def poll(self) -> list[Event]:
        events = self.next_events()
        if events:
            self.after = events[-1].id
            ends = [e.run_id for e in events if e.event == END and e.run_id is not None]
            if ends:
                self.last_ended_run = ends[-1]
        batch = [e for e in events if self.wanted(e)]
        for index, event in enumerate(batch):
            if self.run_id is not None and event.event == END and event.run_id == self.run_id:
                self.done = True
                return batch[: index + 1]
        if events:
            self.ended_last = events[-1].event == END
            self.idle_since = None
            if not self.ended_last:
                return batch
        if self.nothing_more():
            if self.ended_last and self.run_id is None and self.read_the_newest_end():
                self.done = True
            elif self.idle_since is None:
                self.idle_since = time.monotonic()
            elif time.monotonic() - self.idle_since > self.SETTLE_SECONDS:
                self.done = True
        return batch

    def wanted(self, event: Event) -> bool:
        return self.run_id is None or event.run_id == self.run_id

    def read_the_newest_end(self) -> bool:
        """Is the `end` read last that of the session's newest run (as `nothing_more`
        found it)? A run's rows are written before its buffered parts and its `end`
        reach the log, so rows that say "idle" may come before the log has the run:
        then the stream waits for its `end` (at most SETTLE_SECONDS, for a run that
        never ran and so logs nothing)."""
        return self.newest_run is None or (self.last_ended_run or 0) >= self.newest_run

    def nothing_more(self) -> bool:
        """No run active or queued (or the followed run is over): nothing more will be
        written for now."""
        if self.run_id is not None:
            status = Run.objects.filter(pk=self.run_id).values_list("status", flat=True).first()
            return status not in (RunStatus.QUEUED, RunStatus.RUNNING)

        status = Session.objects.filter(pk=self.session_id).values_list("status", flat=True)
        current = status.first()
        if current is None:
            return True
        if current in (SessionStatus.RUNNING, SessionStatus.PENDING):
            return False
        runs = Run.objects.filter(session_id=self.session_id).aggregate(
            active=Count("pk", filter=Q(status__in=(RunStatus.QUEUED, RunStatus.RUNNING))),
            newest=Max("pk", filter=~Q(kind=RunKind.CANCEL)),  # a cancel logs nothing
        )
        self.newest_run = runs["newest"]
        return not runs["active"]


def latest_event_id(session_id: Any) -> str | None:
    """The id of the session's newest logged part (None for an empty log), so a page
    rendered now can follow the stream from here without replaying what it shows.

    Pages through the log (one read per 500 parts): call it for live sessions only.
    """
    latest, after = None, None
    while batch := read_events(session_id, after):
        latest = after = batch[-1].id
    return latest
