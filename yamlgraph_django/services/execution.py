"""Running a claimed session's graph and recording where it stopped.

No database transaction is held while a graph runs: a run can take minutes (LLM calls)
and must not lock rows or, on SQLite, the whole database. The snapshot read after the
run is the one the rows are written from and the one the caller gets back, so a run
costs one checkpoint read beyond LangGraph's own.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from django.db import connections
from langgraph.types import Command

from yamlgraph_django.conf import app_settings
from yamlgraph_django.exceptions import CheckpointerUnavailable
from yamlgraph_django.models import Run, RunStatus, Session, SessionStatus
from yamlgraph_django.services import questions
from yamlgraph_django.services.run_events import (
    CANCEL_REQUESTED,
    END,
    Publisher,
    stream_graph,
)
from yamlgraph_django.services.run_queue import run_ended
from yamlgraph_django.services.snapshots import (
    interrupts_of,
    is_finished,
    public_values,
    state_of,
    thread_config,
)
from yamlgraph_django.services.stores import get_app, graph_config, store_errors

logger = logging.getLogger("yamlgraph_django.services")

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


def last_question(app: Any, session: Session) -> Any:
    """The newest checkpoint at which the session waited for an answer, or None."""
    history = app.get_state_history(thread_config(session), limit=REWIND_SEARCH_LIMIT)
    for snapshot in history:
        if snapshot.interrupts:
            return snapshot
    return None


def invoke(app: Any, session: Session, plan: Plan, publisher: Publisher) -> str | None:
    """Carry out a plan on the session's thread (see `Plan`), publishing its stream;
    returns the stop request that ended it early, if any."""
    cfg = thread_config(session)
    kind = plan["kind"]
    if kind == "input":
        return run_graph(app, plan["input"], cfg, publisher)
    if kind == "continue":
        return run_graph(app, None, cfg, publisher)
    if kind == "resume":
        return run_graph(app, Command(resume=plan["resume"]), cfg, publisher)
    if kind == "rewind":
        return rewind(app, session, plan["checkpoint_id"], plan["answers"], publisher)
    raise ValueError(f"unknown run plan {kind!r}")  # pragma: no cover - plans are ours


def run_graph(app: Any, graph_input: Any, cfg: dict[str, Any], publisher: Publisher) -> str | None:
    return stream_graph(app, graph_input, cfg, publisher, durability=DURABILITY)


def rewind(
    app: Any,
    session: Session,
    checkpoint_id: str,
    answers: dict[str, Any],
    publisher: Publisher,
) -> str | None:
    """Answer again the questions pending at `checkpoint_id`.

    Resuming that checkpoint directly would replay the earlier answer (LangGraph keeps
    the interrupt node's finished writes). A fork without those writes (update_state
    with no values) asks the same questions again, under new ids, which are matched to
    the old ones by node and position.
    """
    target = app.get_state(thread_config(session, checkpoint_id))
    old = [
        (task.name, index, interrupt.id)
        for task in target.tasks
        for index, interrupt in enumerate(task.interrupts)
    ]
    app.update_state(target.config, None)
    stop = run_graph(app, None, thread_config(session), publisher)
    if stop is not None:
        return stop
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
        return run_graph(app, Command(resume=resume), thread_config(session), publisher)
    return None


class Heartbeat:
    """Renews a running session's lease from a side thread while its graph runs, so a
    run may take longer than LEASE_SECONDS and still never be presumed dead. Stops when
    the run ends, or when the claim was lost (recovered, cancelled or deleted)."""

    def __init__(self, session: Session, lease: dt.datetime) -> None:
        self.session, self.lease = session, lease
        self.done = threading.Event()
        seconds = float(app_settings.LEASE_SECONDS)
        self.interval = seconds / 3
        self.thread = threading.Thread(target=self.beat, name="yamlgraph-heartbeat", daemon=True)

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

    def __enter__(self) -> Heartbeat:
        if self.interval > 0:
            self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.done.set()
        if self.thread.is_alive():
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
    """Run the graph for a claimed session, record the outcome, return the new state;
    then the session's next queued run (multitask "enqueue") may start.
    """
    try:
        return execute_claimed(
            session, run, app, plan, lease=lease, restore=restore, in_task=in_task
        )
    finally:
        run_ended(session)


def execute_claimed(
    session: Session,
    run: Run,
    app: Any,
    plan: Plan,
    *,
    lease: dt.datetime,
    restore: str | None,
    in_task: bool = False,
) -> dict[str, Any] | None:
    """Run the graph for a claimed session, record the outcome, return the new state.

    A storage outage undoes the claim (`restore` is the status to go back to; None
    means this was the start, whose rows are removed) and raises CheckpointerUnavailable;
    inside a task, where nobody would see the 503, it marks the session failed instead.
    Any other exception is the graph's: the session becomes `failed`, resumable, and
    None is returned (the caller reads the state if it wants it).
    """
    heartbeat = Heartbeat(session, lease)
    publisher = Publisher(session.pk, run.pk, on_worker=in_task)
    publisher.publish("metadata", {"run_id": run.pk, "session_id": str(session.pk)})
    try:
        with heartbeat, store_errors():
            if app is None:  # the store was down when the caller opened it
                app = get_app(session.graph)
            stop = invoke(app, session, plan, publisher)
            snapshot = app.get_state(thread_config(session))
    except CheckpointerUnavailable as exc:
        publish_error(publisher, exc)
        if not in_task:
            finish_run(run.pk, RunStatus.FAILED, describe_error(exc))
            if restore is None:
                Session.objects.filter(pk=session.pk, lease_expires_at=heartbeat.lease).delete()
            else:
                Session.objects.release(session, heartbeat.lease, restore)
            publish_end(publisher, restore or "deleted")
            raise
        fail(session, run, app, heartbeat.lease, f"{describe_error(exc)}; resume to retry")
        publish_end(publisher, session.status)
        return None
    except Exception as exc:
        logger.info("session %s failed: %s", session.pk, describe_error(exc), exc_info=True)
        publish_error(publisher, exc)
        fail(session, run, app, heartbeat.lease, describe_error(exc))
        publish_end(publisher, session.status)
        return None
    lease = heartbeat.lease  # the token of our claim, as last renewed

    if stop == CANCEL_REQUESTED:
        fields = cancelled_fields()
        finish_run(run.pk, RunStatus.CANCELLED, "cancelled while it ran")
    else:
        fields = outcome(app, session, snapshot, stuck_error=STOPPED_ERROR if stop else None)
        # The run row first, with no transaction: a crash between the two writes leaves
        # the session running under its lease, which recovery settles from the checkpoint.
        if stop:
            finish_run(run.pk, RunStatus.CANCELLED, "stopped at a step boundary for another run")
        else:
            finish_run(run.pk, RunStatus.SUCCEEDED)
    if not Session.objects.finish(
        session, lease, **fields
    ):  # recovered, cancelled or deleted meanwhile: show what the row says
        refresh(session)
        publish_end(publisher, session.status)
        return None
    questions.record_outcome(session, run=run, snapshot=snapshot)
    publish_end(publisher, session.status)
    return state_of(graph_config(session.graph), snapshot)


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
    interrupts = answerable(app, session)
    finish_run(run.pk, RunStatus.FAILED, error)
    if not Session.objects.finish(
        session, lease, status=SessionStatus.FAILED, error=error, interrupts=interrupts, output=None
    ):
        refresh(session)
    else:
        questions.record_outcome(session, run=run)


def outcome(
    app: Any, session: Session, snapshot: Any, *, stuck_error: str | None = None
) -> dict[str, Any]:
    """Session fields for where the graph stopped: waiting, finished, or stuck.

    The pending question always comes from `snapshot`, the checkpoint the row describes.
    A stuck session fails with `stuck_error`, by default a message naming the nodes it
    stopped before; its last question stays answerable.
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
    if stuck_error is None:
        stuck_error = (
            f"the graph stopped before the end (next: {', '.join(snapshot.next) or '?'}); "
            "resume to retry"
        )
    return {
        "status": SessionStatus.FAILED,
        "interrupts": answerable(app, session),
        "output": None,
        "error": stuck_error,
    }


def answerable(app: Any, session: Session) -> list[dict[str, Any]]:
    """For a failed session: the last question, which a resume with a value answers again."""
    try:
        snapshot = last_question(app, session)
    except Exception:
        logger.warning("cannot read the history of session %s", session.pk, exc_info=True)
        return []
    return interrupts_of(snapshot, graph_config(session.graph)) if snapshot is not None else []
