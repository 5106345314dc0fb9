"""The engine: the one place that claims a session, runs its graph, records where it
stopped and ends a run, for every door (API, admin, commands, `/lg/`, tasks).

Doors parse a request and present the result; `lifecycle` (sessions) and `thread_runs`
(LangGraph-protocol threads) check what is asked and claim the row through
`Session.objects`, and hand over a `PreparedRun`; everything from there is here:

- `stream_run` is the one run loop, whichever door claimed the run: it runs the graph,
  yields its LangGraph parts and records where it stopped; `execute` drains it for a
  planned invocation (`Plan`) of the API, admin, commands and tasks, `wait_run` for a
  protocol run someone waits on;
- `outcome` is the one reading of where a graph stopped, `record` the one writer of a
  run's end (Run row first, then the session under its lease, then questions, the
  event log's `end` and the next queued run), `fail`/`end_after_outage` the failure
  and outage endings;
- `to_payload`/`from_payload` turn either kind of run into the JSON argument of the one
  Django task, `run_session`, which a worker executes;
- the run queue (multitask "enqueue"): queued `Run` rows that `dispatch_next` hands to
  that task when the run before them ends (`run_ended`);
- `wait_for_end`, the one wait of a request on a run (join, wait, cancel, interrupt):
  on the event log (`EventLog.wait`), never a sleep loop.

No database transaction is held while a graph runs: a run can take minutes (LLM calls)
and must not lock rows or, on SQLite, the whole database. The snapshot read after the
run is the one the rows are written from and the one the caller gets back, so a run
costs one checkpoint read beyond LangGraph's own.

Django 6 ships the Tasks framework as `django.tasks`; on Django 5.2 the `django-tasks`
backport provides the same API. Which backend runs the task is the project's TASKS
setting.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from django.db import connections, transaction
from django.utils import timezone
from langgraph.types import Command

from yamlgraph_django.conf import app_settings
from yamlgraph_django.events import event_log
from yamlgraph_django.exceptions import (
    CheckpointerUnavailable,
    SessionBusy,
    SessionNotFound,
    SessionNotResumable,
)
from yamlgraph_django.extras import require_task_backends
from yamlgraph_django.models import Run, RunControl, RunKind, RunStatus, Session, SessionStatus
from yamlgraph_django.services import clock, questions, stores
from yamlgraph_django.services.run_events import (
    CANCEL_REQUESTED,
    END,
    STOP_REQUESTED,
    STOPPED,
    STREAM_MODES,
    Publisher,
    graph_parts,
)
from yamlgraph_django.services.run_request import (
    API_DOOR,
    PROTOCOL_DOOR,
    PreparedRun,
    RunRequest,
)
from yamlgraph_django.services.snapshots import (
    interrupts_of,
    is_finished,
    json_safe,
    public_values,
    state_of,
    thread_config,
)
from yamlgraph_django.services.stores import get_app, graph_config, store_errors
from yamlgraph_django.status import ACTIVE_SESSION

try:  # Django >= 6.0
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task

logger = logging.getLogger("yamlgraph_django.services")

# @task() looks up the TASKS backend now: a backend whose extra is missing (RQ) gets the
# pip line that installs it instead of a bare "No module named ...".
require_task_backends()

#: Why a session whose run was stopped for another (multitask "interrupt") is not done.
STOPPED_ERROR = "the run was stopped before the end to make way for another; resume to continue"

#: How far back a failed session looks for the last question to answer again.
REWIND_SEARCH_LIMIT = 200

#: A planned graph invocation, JSON-safe so it can travel as a task argument:
#: {"kind": "input", "input": {...}}   first run (or a start that failed before any checkpoint)
#: {"kind": "continue"}                retry a failed run from its last checkpoint
#: {"kind": "resume", "resume": {interrupt_id: value}}
#: {"kind": "rewind", "checkpoint_id": ..., "answers": {interrupt_id: value}}
#:     answer again a question whose earlier answer made the graph fail
Plan = dict[str, Any]

#: Each step's checkpoint is saved before the next step starts. LangGraph's default
#: ("async") saves it while the next step runs, which (a) can lose a finished step on a
#: crash, and (b) lets a step's writes reach the store before its checkpoint: the Redis
#: saver then records the checkpoint as having no writes and a pending interrupt
#: vanishes from the session (seen intermittently under load).
DURABILITY = "sync"


def describe_error(exc: BaseException) -> str:
    """The text stored in `Session.error`: what a person needs to fix the graph or input."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def finish_run(run_id: int, status: str, error: str = "") -> None:
    """End a run row once (`Run.objects.end`): a run that ended already keeps its outcome."""
    Run.objects.end(run_id, status, error)


def refuse_queued(run_id: int, reason: BaseException | str) -> None:
    """End a queued run that cannot run now, with one wording on every door: "not run:"
    and the refusal a request would have had (its detail), else the error."""
    detail = reason if isinstance(reason, str) else getattr(reason, "detail", None)
    finish_run(run_id, RunStatus.FAILED, f"not run: {detail or describe_error(reason)}")


def last_question(app: Any, session: Session) -> Any:
    """The newest checkpoint at which the session waited for an answer, or None."""
    history = app.get_state_history(thread_config(session), limit=REWIND_SEARCH_LIMIT)
    for snapshot in history:
        if snapshot.interrupts:
            return snapshot
    return None


def graph_input_of(plan: Plan) -> Any:
    """What LangGraph is given for a plan (a rewind is two runs: `rewind_parts`)."""
    kind = plan["kind"]
    if kind == "input":
        return plan["input"]
    if kind == "resume":
        return Command(resume=plan["resume"])
    if kind in ("continue", "rewind"):
        return None
    raise ValueError(f"unknown run plan {kind!r}")  # pragma: no cover - plans are ours


def rewind_parts(
    app: Any,
    session: Session,
    checkpoint_id: str,
    answers: dict[str, Any],
    run_graph: Callable[[Any], Iterator[tuple[str, Any, list[str]]]],
) -> Iterator[tuple[str, Any, list[str]]]:
    """Answer again the questions pending at `checkpoint_id`, yielding the runs' parts.

    Resuming that checkpoint directly would replay the earlier answer (LangGraph keeps
    the interrupt node's finished writes). A fork without those writes (update_state
    with no values) asks the same questions again, under new ids, which are matched to
    the old ones by node and position. A stop request ends it after the first run.
    """
    target = app.get_state(thread_config(session, checkpoint_id))
    old = [
        (task.name, index, interrupt.id)
        for task in target.tasks
        for index, interrupt in enumerate(task.interrupts)
    ]
    app.update_state(target.config, None)
    for part in run_graph(None):
        yield part
        if part[0] == STOPPED:
            return
    fresh = app.get_state(thread_config(session))
    new_ids = {
        (task.name, index): interrupt.id
        for task in fresh.tasks
        for index, interrupt in enumerate(task.interrupts)
    }
    resume = {
        new_ids[(name, index)]: answers[old_id]
        for name, index, old_id in old
        if old_id in answers and (name, index) in new_ids
    }
    if resume:
        yield from run_graph(Command(resume=resume))


#: A run shorter than this starts no heartbeat thread (its lease cannot run out).
HEARTBEAT_GRACE_SECONDS = 1.0


class Heartbeat:
    """Renews a running session's lease from a side thread while its graph runs, so a
    run may take longer than LEASE_SECONDS and still never be presumed dead. Stops when
    the run ends, or when the claim was lost (recovered, cancelled or deleted). The
    thread starts only once the run outlives HEARTBEAT_GRACE_SECONDS (services.clock):
    a run of milliseconds starts no thread at all."""

    def __init__(self, session: Session, lease: dt.datetime) -> None:
        self.session, self.lease = session, lease
        self.done = threading.Event()
        self.lock = threading.Lock()
        seconds = float(app_settings.LEASE_SECONDS)
        self.interval = seconds / 3
        self.thread = threading.Thread(target=self.beat, name="yamlgraph-heartbeat", daemon=True)
        self.pending: clock.Handle | None = None

    def beat(self) -> None:
        try:
            while not self.done.wait(self.interval):
                renewed = Session.objects.renew(self.session, self.lease)
                if renewed is None:
                    return
                self.lease = renewed
        except Exception:  # a heartbeat that fails leaves the lease to expire: logged only
            logger.warning("lease renewal of session %s failed", self.session.pk, exc_info=True)
        finally:
            connections.close_all()

    def start_beating(self) -> None:
        """On the clock thread, once the run has outlived the grace: start renewing."""
        with self.lock:
            if not self.done.is_set():
                self.thread.start()

    def __enter__(self) -> Heartbeat:
        if self.interval > 0:
            grace = min(HEARTBEAT_GRACE_SECONDS, self.interval / 2)
            self.pending = clock.call_later(grace, self.start_beating)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self.lock:
            self.done.set()
            if self.pending is not None:
                self.pending.cancel()
        if self.thread.ident is not None:
            self.thread.join()


def execute(
    session: Session,
    run: Run,
    app: Any,
    plan: Plan,
    *,
    lease: dt.datetime,
    restore: str | None,
    in_task: bool = False,
) -> dict[str, Any] | None:
    """Run the graph for a claimed session (a `Plan` of the API, admin, commands or a
    task) through the one run loop, `stream_run`, and return the new state (None when
    the graph failed or the row changed under the run: the caller reads it if it wants).

    A storage outage undoes the claim (`restore` is the status to go back to; None
    means this was the start, whose rows are removed) and raises CheckpointerUnavailable;
    inside a task, where nobody would see the 503, it marks the session failed instead.
    """
    prepared = PreparedRun(
        session=session,
        run=run,
        request=RunRequest(graph_name=session.graph.name, stream_modes=[]),
        lease=lease,
        previous=restore,
        graph_input=graph_input_of(plan),
        config=thread_config(session),
        run_id=str(run.pk),
        door=API_DOOR,
        app=app,
        on_worker=in_task,
        outage_fails=in_task,
        rewind=(plan["checkpoint_id"], plan["answers"]) if plan["kind"] == "rewind" else None,
    )
    for _part in stream_run(prepared, each=False):
        pass
    if prepared.outage is not None and not in_task:
        raise prepared.outage
    if not prepared.written or prepared.snapshot is None:
        return None
    return state_of(graph_config(session.graph), prepared.snapshot)


def record(
    session: Session,
    run: Run,
    lease: dt.datetime,
    fields: dict[str, Any],
    ending: tuple[str, str],
    *,
    snapshot: Any = None,
    publisher: Publisher | None = None,
) -> bool:
    """The one writer of a run's end, whichever door started it: the Run row (`ending`:
    its status and error), the session's `fields` if our claim (`lease`) still stands,
    the question rows, then the log's `end`. False when the session was recovered,
    cancelled or deleted meanwhile: the instance then shows what the row says.

    The run row first, with no transaction: a crash between the two writes leaves the
    session running under its lease, which recovery settles from the checkpoint.
    """
    Run.objects.end(run.pk, *ending)
    written = Session.objects.finish(session, lease, **fields)
    if written:
        questions.record_outcome(session, run=run, snapshot=snapshot)
    else:
        refresh(session)
    if publisher is not None:
        publish_end(publisher, session.status)
    return written


def end_after_outage(
    session: Session,
    run: Run,
    lease: dt.datetime,
    exc: CheckpointerUnavailable,
    restore: str | None,
    publisher: Publisher | None,
) -> None:
    """The one outage ending of a run someone is waiting for: the session goes back to
    where it was before the claim (`restore`; None removes a start that stored nothing
    else), never `failed`, since the same run works once the store is back; the Run row
    records the outage and the log says so."""
    Run.objects.end(run.pk, RunStatus.FAILED, describe_error(exc))
    if restore is None:
        Session.objects.filter(pk=session.pk, lease_expires_at=lease).delete()
    else:
        Session.objects.release(session, lease, restore)
    if publisher is not None:
        publisher.publish("error", outage_part(exc))
        publish_end(publisher, restore or "deleted")


def outage_part(exc: CheckpointerUnavailable) -> dict[str, Any]:
    """The `error` part that ends a stream cut by a store outage (the session resumable)."""
    return {"error": type(exc).__name__, "message": str(exc.detail)}


def publish_error(publisher: Publisher, exc: BaseException) -> None:
    publisher.publish("error", {"error": type(exc).__name__, "message": str(exc)})


def publish_end(publisher: Publisher, status: str) -> None:
    """Close the run's part of the log, after its rows are written: a reader who sees
    `end` and reads the session sees where the run left it."""
    publisher.publish(END, {"run_id": publisher.run_id, "status": str(status)}, flush=True)


def cancelled_fields() -> dict[str, Any]:
    return {"status": SessionStatus.CANCELLED, "interrupts": [], "output": None, "error": ""}


def refresh(session: Session) -> None:
    """Reload a row that changed under a run (it may be gone: then it stays as it was)."""
    try:
        session.refresh_from_db()
    except Session.DoesNotExist:
        logger.info("session %s was deleted while it ran", session.pk)


def fail(session: Session, run: Run, app: Any, lease: dt.datetime, error: str) -> None:
    """Record a failed run: the session keeps its last question, so it stays resumable."""
    fields = failed_fields(app, session, error)
    record(session, run, lease, fields, (RunStatus.FAILED, error))


def failed_fields(app: Any, session: Session, error: str) -> dict[str, Any]:
    """Session fields of a failed run: its last question stays answerable."""
    interrupts = answerable(app, session) if app is not None else []
    return {
        "status": SessionStatus.FAILED,
        "error": error,
        "interrupts": interrupts,
        "output": None,
    }


def outcome(
    snapshot: Any,
    session: Session,
    *,
    app: Any = None,
    breakpoints: bool = False,
    stuck_error: str | None = None,
) -> dict[str, Any]:
    """Session fields for where the graph stopped: waiting, finished, or stuck; the one
    reading of a checkpoint for every door, recovery and state update.

    The pending questions come from `snapshot`, the checkpoint the row describes, with
    their response schemas (every door then checks answers alike). With `breakpoints`
    (a protocol run's interrupt_before/after) a graph stopped before the end waits to
    go on; otherwise it fails with `stuck_error`, by default a message naming the nodes
    it stopped before, and (given `app`) its last question stays answerable.
    """
    pending = interrupts_of(snapshot, graph_config(session.graph))
    if pending:
        return {
            "status": SessionStatus.INTERRUPTED,
            "interrupts": pending,
            "output": None,
            "error": "",
        }
    if is_finished(snapshot):
        return {
            "status": SessionStatus.COMPLETED,
            "interrupts": [],
            "output": public_values(snapshot.values),
            "error": "",
        }
    if breakpoints:
        return {"status": SessionStatus.INTERRUPTED, "interrupts": [], "output": None, "error": ""}
    if stuck_error is None:
        stuck_error = (
            f"the graph stopped before the end (next: {', '.join(snapshot.next) or '?'}); "
            "resume to retry"
        )
    return failed_fields(app, session, stuck_error)


def answerable(app: Any, session: Session) -> list[dict[str, Any]]:
    """For a failed session: the last question, which a resume with a value answers again."""
    try:
        snapshot = last_question(app, session)
    except Exception:
        logger.warning("cannot read the history of session %s", session.pk, exc_info=True)
        return []
    return interrupts_of(snapshot, graph_config(session.graph)) if snapshot is not None else []


# ------------------------------------------------------------------ waiting


#: The longest one wait on the event log lasts before `wait_for_end` reads the rows again
#: (a run that died without logging its `end` is seen this late at most).
END_WAKE_SECONDS = 1.0


def wait_for_end(
    session_id: Any,
    ended: Callable[[], bool],
    timeout: float,
    *,
    on_wake: Callable[[], None] | None = None,
) -> bool:
    """Wait until `ended()` (a read of the rows) says the run being waited for is over,
    at most `timeout` seconds; True if it is. The one wait of a request on a run (join,
    wait, cancel, interrupt): it sleeps on the session's event log, woken by the parts
    the run logs (its `end` is logged after its rows are written), never in a sleep
    loop. `on_wake` runs before each wait (a look for a live worker, say)."""
    if ended():
        return True
    deadline = time.monotonic() + timeout
    log = event_log()
    session_id = str(session_id)
    try:
        after = log.last_id(session_id)
    except Exception:  # the log is down: the rows still say when the run ends
        logger.warning("event log unavailable while waiting for a run", exc_info=True)
        after = None
    while not ended():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        if on_wake is not None:
            on_wake()
        after = wait_on_log(log, session_id, after, min(remaining, END_WAKE_SECONDS))
    return True


#: Where a wait sleeps when the event log cannot be read (never woken early).
_LOG_DOWN = threading.Event()


def wait_on_log(log: Any, session_id: str, after: str | None, timeout: float) -> str | None:
    """One wait on the log; returns the newest id seen (`after` when nothing came)."""
    try:
        events = log.wait(session_id, after, timeout)
    except Exception:
        logger.warning("event log unavailable while waiting for a run", exc_info=True)
        _LOG_DOWN.wait(timeout)
        return after
    return events[-1].id if events else after


# ------------------------------------------------------------ protocol runs

#: LangGraph stream modes a run can produce; the others a client asks for stay silent.
NATIVE_MODES = ("values", "updates", "messages", "custom", "tasks", "checkpoints", "debug")
#: What a run nobody watches (a worker's) logs: every mode a client may join it with.
JOINABLE_MODES = ("values", "updates", "messages", "custom", "tasks", "checkpoints")


#: Why a session whose run was stopped is not done, and the stopped run's error, by
#: who stopped it: another run (multitask "interrupt"/"rollback"), a cancel of the run
#: (the protocol's), or its client going away (a cancel of the session ends it instead).
STOP_ENDINGS = {
    STOP_REQUESTED: (STOPPED_ERROR, "stopped at a step boundary for another run"),
    RunControl.ROLLBACK: (STOPPED_ERROR, "stopped at a step boundary for another run"),
    RunControl.CANCEL_RUN: (
        "the run was cancelled before the end; run again to continue",
        "cancelled while it ran",
    ),
}
CLIENT_GONE = (
    "the run was stopped before the end (its client left); run again to continue",
    "stopped before the end: its client left",
)


def stream_run(
    prepared: PreparedRun, *, each: bool = True, log_all: bool = False
) -> Iterator[tuple[str, Any, str | None]]:
    """The one run loop of every door: run the graph and yield (mode, JSON-safe chunk,
    event log id) for the modes asked, then record where it stopped.

    The first part is ("metadata", ...). Modes: LangGraph's own (`values` with
    `__interrupt__`, `updates`, `messages` token chunks as [chunk, metadata], `custom`,
    `tasks`, `checkpoints`, `debug`); a graph error is one ("error", {"error",
    "message"}) at the end, and so is a store outage. Every part also goes to the event
    log (which `join` replays), closed by our `end`. The outcome is recorded on the rows
    however the stream ends (`record_prepared`): closing the generator (a client gone)
    stops the graph at once, unless the request said `on_disconnect: "continue"`. The
    session's lease is renewed while it runs. `log_all` (a worker's run) logs every
    joinable mode, whatever was asked, so a client joining later gets the mode it asks
    for. Then the session's next queued run may start.
    """
    try:
        yield from run_loop(prepared, each=each, log_all=log_all)
    finally:
        run_ended(prepared.session)


def run_loop(
    prepared: PreparedRun, *, each: bool, log_all: bool
) -> Iterator[tuple[str, Any, str | None]]:
    """`stream_run`'s body."""
    session, request = prepared.session, prepared.request
    asked = list(dict.fromkeys(request.stream_modes or []))
    wanted = set(asked) | ({"messages"} if "messages-tuple" in asked else set())
    if "messages" in asked and "messages-tuple" not in asked:
        wanted.discard("messages")  # langgraph-api's message mode: MAY
    logged = JOINABLE_MODES if log_all else STREAM_MODES
    modes = tuple(dict.fromkeys([*logged, *(m for m in asked if m in NATIVE_MODES)]))
    error: BaseException | None = None
    closed = False
    stop: str | None = None
    # `each`: every part is logged at once, for a stream that hands out the log's ids;
    # else in batches (a step at a time): a short run, one INSERT.
    publisher = Publisher(session.pk, prepared.run.pk, each=each, on_worker=prepared.on_worker)
    try:
        with store_errors():
            app = prepared.app or get_app(session.graph)
    except CheckpointerUnavailable as exc:
        end_with_outage(prepared, None, exc, publisher)
        yield "error", outage_part(exc), None
        return
    heartbeat = Heartbeat(session, prepared.lease)

    def run_graph(graph_input: Any) -> Iterator[tuple[str, Any, list[str]]]:
        return graph_parts(
            app,
            graph_input,
            prepared.config,
            publisher,
            durability=DURABILITY,
            modes=modes,
            interrupt_before=request.interrupt_before,
            interrupt_after=request.interrupt_after,
        )

    if prepared.rewind is not None:
        parts = rewind_parts(app, session, *prepared.rewind, run_graph)
    else:
        parts = run_graph(prepared.graph_input)
    try:
        with heartbeat, store_errors():
            # First, inside the try: a client gone before any graph step still records.
            if prepared.door == PROTOCOL_DOOR:
                publisher.publish(MODES_EVENT, sorted(wanted))  # what a rejoin sends again
                announce = {"run_id": prepared.run_id, "attempt": 1}
            else:
                announce = {"run_id": prepared.run.pk, "session_id": str(session.pk)}
            ids = publisher.publish("metadata", announce)
            yield "metadata", announce, first(ids)
            for mode, data, ids in parts:
                if mode == STOPPED:
                    stop = data
                    parts.close()  # cooperative stop: the checkpoints so far stay
                    break
                if closed or mode not in wanted:
                    continue  # on_disconnect "continue": run to the end, nobody listens
                try:
                    yield mode, data, first(ids)
                except GeneratorExit:
                    if request.on_disconnect != "continue":
                        raise
                    closed = True
    except GeneratorExit:
        parts.close()
        prepared.lease = heartbeat.lease
        record_prepared(prepared, app, None, stop=None, client_gone=True, publisher=publisher)
        raise
    except CheckpointerUnavailable as exc:  # not the graph's fault
        prepared.lease = heartbeat.lease
        end_with_outage(prepared, app, exc, publisher)
        if not closed:
            yield "error", outage_part(exc), None
        return
    except Exception as exc:
        logger.info("run %s failed: %s", prepared.run_id, describe_error(exc), exc_info=True)
        error = exc
    prepared.lease = heartbeat.lease
    error_ids: list[str] = []
    if error is not None:
        error_ids = publisher.publish("error", error_part(error), flush=True)
    record_prepared(prepared, app, error, stop=stop, publisher=publisher)
    if error is not None and not closed:
        yield "error", error_part(error), first(error_ids)


#: The logged (not streamed) part that records which modes the run's client asked for.
MODES_EVENT = "__modes__"


def first(ids: list[str]) -> str | None:
    return ids[0] if ids else None


def error_part(exc: BaseException) -> dict[str, Any]:
    return {"error": type(exc).__name__, "message": str(exc)}


def record_prepared(
    prepared: PreparedRun,
    app: Any,
    error: BaseException | None,
    *,
    stop: str | None,
    client_gone: bool = False,
    publisher: Publisher | None = None,
) -> None:
    """Write where a run stopped (through `record`), whichever door started it. A
    graph error fails the session with its last question answerable; a cancel of the
    session cancels it; a run stopped for another, cancelled alone or left by its
    client keeps its checkpoints (the session runs on from them)."""
    session, run = prepared.session, prepared.run
    snapshot = None
    try:
        with store_errors():
            snapshot = app.get_state(thread_config(session))
    except CheckpointerUnavailable as exc:  # the store went away at the run's end
        end_with_outage(prepared, app, exc, publisher)
        return
    breakpoints = bool(prepared.request.interrupt_before or prepared.request.interrupt_after)
    if error is not None:
        fields = failed_fields(app, session, describe_error(error))
        ending = (RunStatus.FAILED, fields["error"])
    elif stop == CANCEL_REQUESTED:
        fields = cancelled_fields()
        ending = (RunStatus.CANCELLED, "cancelled while it ran")
    elif stop is not None or client_gone:
        stuck, why = STOP_ENDINGS.get(stop, CLIENT_GONE)
        fields = outcome(snapshot, session, app=app, breakpoints=breakpoints, stuck_error=stuck)
        ending = (RunStatus.CANCELLED, why)
    else:
        fields = outcome(snapshot, session, app=app, breakpoints=breakpoints)
        ending = (RunStatus.SUCCEEDED, "")
    prepared.snapshot = snapshot
    prepared.written = record(
        session, run, prepared.lease, fields, ending, snapshot=snapshot, publisher=publisher
    )


def end_with_outage(
    prepared: PreparedRun, app: Any, exc: CheckpointerUnavailable, publisher: Publisher | None
) -> None:
    """A store outage ended the run: the session goes back to where it was before the
    claim (`end_after_outage`), or, for a worker's run of the API (`outage_fails`),
    fails resumable. A stream then ends with the outage's `error` part."""
    prepared.outage = exc
    if prepared.outage_fails:
        publish_error(publisher, exc)
        error = f"{describe_error(exc)}; resume to retry"
        fail(prepared.session, prepared.run, app, prepared.lease, error)
        publish_end(publisher, prepared.session.status)
    else:
        end_after_outage(
            prepared.session, prepared.run, prepared.lease, exc, prepared.previous, publisher
        )


def wait_run(prepared: PreparedRun) -> dict[str, Any]:
    """Run to the end or the next interrupt; the final values, with `__interrupt__`
    when it stopped at one, or `{"__error__": {...}}` when the graph raised.
    A store outage raises CheckpointerUnavailable (503), the thread as it was."""
    prepared.request.stream_modes = ["values"]
    last: Any = {}
    for mode, chunk, _id in stream_run(prepared, each=False):  # to its end: `error` is last
        if mode == "error":
            last = {"__error__": chunk}
        elif mode == "values":
            last = chunk
    if prepared.outage is not None:
        raise prepared.outage
    prepared.result = last if isinstance(last, dict) else {"__value__": last}
    return prepared.result


# ------------------------------------------------------------ the run queue
#
# Multitask "enqueue" as `Run` rows that start when the run before ends. A request that
# asks to `enqueue` behind a busy session never waits and is never refused: it writes a
# `Run` row with status `queued`, its request in `Run.request` (what to run: an API
# answer, or a LangGraph-protocol run request), and returns. Whenever a session's run
# ends (`run_ended`, once the run's `end` is logged) and right after a run is queued,
# `dispatch_next` hands the oldest queued row of an idle session to a worker (the task,
# `run_session`, with a "turn" payload). The worker claims the session as any run does;
# if someone else got there first, the row stays queued for the next dispatch. So queued
# runs execute one after another, in the order they were queued, wherever from.


#: How a queued run of each door runs when its turn comes: (session, run) -> outcome.
#: `lifecycle` and `thread_runs` register theirs when imported (the package imports
#: both), so the engine imports neither back.
RUNNERS: dict[str, Callable[[Session, Run], str]] = {}


def enqueue_run(
    session: Session,
    request: dict[str, Any],
    *,
    kind: str = RunKind.RESUME,
    actor: Any = None,
    channel: str,
    value: Any = None,
) -> Run:
    """Queue a run behind the session's current one; it starts when its turn comes."""
    run = Run.objects.create(
        session=session,
        kind=kind,
        actor=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
        channel=channel,
        value=value,
        status=RunStatus.QUEUED,
        multitask_strategy="enqueue",
        request=request,
    )
    session_id = session.pk
    # The session may have become idle between the caller's look and this insert.
    transaction.on_commit(lambda: dispatch_next(session_id))
    return run


def dispatch_next(session_id: Any) -> Run | None:
    """Hand the session's oldest queued run to a worker if the session is idle; returns
    it (None when nothing is queued or the session is busy: its end dispatches again)."""
    run = Run.objects.next_queued(session_id)
    if run is None:
        return None
    status = Session.objects.filter(pk=session_id).values_list("status", flat=True).first()
    if status is None or busy(session_id, status):
        return None
    try:
        enqueue_task({"session": str(session_id), "run": run.pk, "turn": True})
    except Exception as exc:  # the task backend is down: the run cannot start
        logger.exception("could not enqueue queued run %s of session %s", run.pk, session_id)
        Run.objects.end(run.pk, RunStatus.FAILED, f"could not enqueue the run: {exc}")
    return run


def busy(session_id: Any, status: str) -> bool:
    """Does a run hold the session (running, or a start/run already claimed for a
    worker)? Runs queued behind others do not count; a `pending` session with no run
    (a LangGraph thread not run yet) is idle."""
    if status == SessionStatus.RUNNING:
        return True
    if status not in ACTIVE_SESSION:
        return False
    return (
        Run.objects.active(session_id).exclude(status=RunStatus.QUEUED, request__isnull=False)
    ).exists()


def take_turn(session_id: str, run_id: int) -> str:
    """Start queued run `run_id` if it is the session's next one and the session is idle.

    Returns "skipped" (cancelled meanwhile, or the session is gone), "waiting" (not its
    turn, or the session is busy: the end of the current run dispatches it again), or
    what the run ended as. A queued run that cannot run (the question it answered was
    cancelled, its input is refused) ends `failed` with the reason, and the next one
    gets its turn.
    """
    run = Run.objects.select_related("actor").filter(pk=run_id, status=RunStatus.QUEUED).first()
    if run is None:
        return "skipped"
    first = Run.objects.next_queued(session_id)
    if first is None or first.pk != run.pk:
        return "waiting"
    session = Session.objects.select_related("graph").filter(pk=session_id).first()
    if session is None:
        return "skipped"
    if busy(session_id, session.status):
        return "waiting"
    door = (run.request or {}).get("door") or API_DOOR
    outcome = RUNNERS[door](session, run)
    if outcome in ("failed", "skipped"):
        dispatch_next(session_id)  # this one did not run: the next one's turn
    return outcome


def dispatch_overdue(older_than: float) -> int:
    """Dispatch queued runs waiting longer than `older_than` seconds on an idle session
    (the sweeper's safety net: a dispatch lost to a crash between a run's end and its
    dispatch). Returns how many were handed to a worker."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than)
    waiting = (
        Run.objects.filter(status=RunStatus.QUEUED, request__isnull=False, started_at__lt=cutoff)
        .values_list("session_id", flat=True)
        .distinct()
    )
    return sum(1 for session_id in list(waiting) if dispatch_next(session_id) is not None)


def run_ended(session: Session) -> None:
    """Called by the engine once a run has ended and its `end` is in the log: the next
    queued run may start (after the commit of what the run wrote). Costs no query when
    `Session.objects.finish` found no run queued behind this one (`runs_queued`)."""
    if getattr(session, "runs_queued", False):
        session.runs_queued = False
        session_id = session.pk
        transaction.on_commit(lambda: dispatch_next(session_id))


# --------------------------------------------------------------------- the task

#: Plan key of a run someone watches in this process (a start or resume with "stream":
#: true): a store outage then puts the session back as it was (plan["restore"]; None
#: removes a start), as in a request, instead of failing it as a worker does.
WATCHED = "watched"


@task()
def run_session(payload: dict[str, Any]) -> str:
    """The one background task: run a start or resume of a session (a `Plan`), a
    prepared protocol run (see `to_payload`), or the turn of a queued run (`take_turn`);
    returns how it ended."""
    if payload.get("turn"):  # a queued run (multitask "enqueue") whose turn has come
        return take_turn(payload["session"], payload["run"])
    if "plan" in payload:
        return run_queued(payload["session"], payload["run"], payload["plan"])
    prepared = from_payload(payload)
    if prepared is None:
        return "deleted"
    run_prepared_in_background(prepared)
    return "done"


def run_queued(session_id: str, run_id: int, plan: Plan) -> str:
    """Execute a run enqueued by `start_session`/`resume_session` (the task's body).

    Never raises for graph errors or outages: those are recorded on the session, which
    stays resumable, because a task backend's retry would not know how to undo a
    half-finished run.
    """
    try:
        session = Session.objects.select_related("graph").get(pk=session_id)
    except Session.DoesNotExist:
        logger.warning("queued run %s: session %s no longer exists", run_id, session_id)
        return "deleted"
    if session.status != SessionStatus.PENDING:
        refuse_queued(run_id, f"the session is {session.status}")
        return str(session.status)
    watched = bool(plan.get(WATCHED))
    try:
        with store_errors():
            app = get_app(session.graph)
    except CheckpointerUnavailable as exc:
        if not watched:  # nobody would see a 503: the session fails, resumable
            fail_queued(session_id, run_id, exc, prefix="", renew_expiry=True)
            return SessionStatus.FAILED
        app = None  # claimed below, then put back as it was by `execute`
    except Exception as exc:  # the graph is broken
        fail_queued(session_id, run_id, exc, prefix="", renew_expiry=True)
        return SessionStatus.FAILED
    try:
        lease = Session.objects.claim(session, action="run")
    except (SessionBusy, SessionNotResumable, SessionNotFound) as exc:
        refuse_queued(run_id, exc)
        return "skipped"
    if not Run.objects.begin(run_id):  # cancelled while it waited for a worker
        Session.objects.release(session, lease, SessionStatus.PENDING)
        return "skipped"
    run = Run(pk=run_id, session=session)
    try:
        execute(
            session, run, app, plan, lease=lease, restore=plan.get("restore"), in_task=not watched
        )
    except CheckpointerUnavailable:  # watched: put back as it was, the stream told why
        return "unavailable"
    return str(session.status)


def enqueue_on_commit(session: Session, run: Run, plan: Plan, *, in_thread: bool = False) -> None:
    """Enqueue after commit, so a worker never looks for rows it cannot see yet.

    `in_thread` runs it in a thread of this process instead (a request that streams the
    run's events to its caller).
    """
    session_id, run_id = str(session.pk), run.pk

    def enqueue() -> None:
        if in_thread:
            start_thread(run_queued, session_id, run_id, plan)
            return
        try:
            enqueue_task(to_payload(session, run, plan))
        except Exception as exc:
            logger.exception("could not enqueue run %s of session %s", run_id, session_id)
            fail_queued(session_id, run_id, exc, prefix="could not enqueue the run: ")

    transaction.on_commit(enqueue)


def start_thread(target: Any, *args: Any) -> threading.Thread:
    """Run `target(*args)` in a daemon thread that closes its database connections."""

    def body() -> None:
        try:
            target(*args)
        except Exception:
            logger.exception("run in thread failed")
        finally:
            connections.close_all()

    thread = threading.Thread(target=body, name="yamlgraph-run", daemon=True)
    thread.start()
    return thread


def fail_queued(
    session_id: Any, run_id: int, exc: Exception, *, prefix: str, renew_expiry: bool = False
) -> None:
    """A queued run that cannot start: the session, if still pending, fails (resumable),
    and so does the run. `renew_expiry` restarts the session's time to live."""
    Session.objects.fail_pending(
        session_id, f"{prefix}{describe_error(exc)}; resume to retry", renew_expiry=renew_expiry
    )
    finish_run(run_id, RunStatus.FAILED, describe_error(exc))


def enqueue_prepared(prepared: PreparedRun, *, delay: float = 0.0) -> None:
    """Hand a run prepared with `background=True` to a worker (Django Tasks), once the
    rows it needs are committed; `delay` seconds later where the backend can defer."""
    payload = to_payload(prepared.session, prepared.run, prepared)

    def enqueue() -> None:
        try:
            enqueue_task(payload, delay=delay)
        except Exception as exc:
            logger.exception("could not enqueue run %s", prepared.run_id)
            error = ValueError(f"could not enqueue the run: {exc}")
            record_prepared(prepared, stores.get_app(prepared.session.graph), error, stop=None)

    transaction.on_commit(enqueue)


def enqueue_task(payload: dict[str, Any], *, delay: float = 0.0) -> None:
    """Hand a payload to the task backend; `delay` seconds later where it can defer."""
    job = run_session
    if delay and job.get_backend().supports_defer:
        job = job.using(run_after=timezone.now() + dt.timedelta(seconds=delay))
    job.enqueue(payload)


def to_payload(session: Session, run: Run, work: Plan | PreparedRun) -> dict[str, Any]:
    """A run as the JSON argument of `run_session`: the session and Run ids, and either
    the `Plan` of a session run or a prepared protocol run (its request, claim token,
    graph input and config)."""
    payload: dict[str, Any] = {"session": str(session.pk), "run": run.pk}
    if not isinstance(work, PreparedRun):
        payload["plan"] = work
        return payload
    graph_input: Any = work.graph_input
    if isinstance(graph_input, Command):
        goto = graph_input.goto
        graph_input = {
            "__command__": {
                "resume": graph_input.resume,
                "update": graph_input.update,
                "goto": list(goto) if isinstance(goto, list | tuple) else goto,
            }
        }
    payload["prepared"] = {
        "request": json_safe(dataclasses.asdict(work.request)),
        "lease": work.lease.isoformat(),
        "previous": work.previous,
        "input": json_safe(graph_input),
        "config": json_safe(work.config),
        "run_id": work.run_id,
    }
    return payload


def from_payload(payload: Mapping[str, Any]) -> PreparedRun | None:
    """The prepared protocol run a payload describes, or None if its thread or run is
    gone (a session run's payload is read by `run_queued`)."""
    session = Session.objects.select_related("graph").filter(pk=payload["session"]).first()
    run = Run.objects.filter(pk=payload["run"]).first()
    if session is None or run is None:
        return None
    prepared = payload["prepared"]
    graph_input = prepared["input"]
    if isinstance(graph_input, Mapping) and "__command__" in graph_input:
        command = graph_input["__command__"]
        graph_input = Command(
            resume=command.get("resume"),
            update=command.get("update"),
            goto=command.get("goto") or (),
        )
    return PreparedRun(
        session=session,
        run=run,
        request=RunRequest(**prepared["request"]),
        lease=dt.datetime.fromisoformat(prepared["lease"]),
        previous=prepared["previous"],
        graph_input=graph_input,
        config=dict(prepared["config"]),
        run_id=prepared["run_id"],
    )


def run_prepared_in_background(prepared: PreparedRun) -> None:
    """Execute a run prepared with `background=True` to its end, nobody listening (its
    parts go to the event log, which `join` and joined streams read)."""
    if not Run.objects.begin(prepared.run.pk):  # cancelled while it waited: released then
        return
    prepared.on_worker = True
    for _part in stream_run(prepared, each=False, log_all=True):
        pass
