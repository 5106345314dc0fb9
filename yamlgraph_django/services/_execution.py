"""Running a claimed session's graph and recording where it stopped.

No database transaction is held while a graph runs: a run can take minutes (LLM calls)
and must not lock rows or, on SQLite, the whole database.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from langgraph.types import Command

from yamlgraph_django.models import Run, RunStatus, Session, SessionStatus
from yamlgraph_django.services._claims import finish, finish_run, release
from yamlgraph_django.services._common import (
    describe_error,
    graph_config,
    interrupts_of,
    is_finished,
    is_outage,
    public_values,
    thread_config,
    unavailable,
)

logger = logging.getLogger("yamlgraph_django.services")

#: How far back a failed session looks for the last question to answer again.
REWIND_SEARCH_LIMIT = 200

#: A planned graph invocation, JSON-safe so it can travel as a task argument:
#: {"kind": "input", "input": {...}}   first run (or a start that failed before any checkpoint)
#: {"kind": "continue"}                retry a failed run from its last checkpoint
#: {"kind": "resume", "resume": {interrupt_id: value}}
#: {"kind": "rewind", "checkpoint_id": ..., "answers": {interrupt_id: value}}
#:     answer again a question whose earlier answer made the graph fail
Plan = dict[str, Any]


def last_question(app: Any, session: Session) -> Any:
    """The newest checkpoint at which the session waited for an answer, or None."""
    history = app.get_state_history(thread_config(session), limit=REWIND_SEARCH_LIMIT)
    for snapshot in history:
        if snapshot.interrupts:
            return snapshot
    return None


#: Each step's checkpoint is saved before the next step starts. LangGraph's default
#: ("async") saves it while the next step runs, which (a) can lose a finished step on a
#: crash, and (b) lets a step's writes reach the store before its checkpoint: the Redis
#: saver then records the checkpoint as having no writes and a pending interrupt
#: vanishes from the session (seen intermittently under load).
DURABILITY = "sync"


def invoke(app: Any, session: Session, plan: Plan) -> None:
    """Carry out a plan on the session's thread (see `Plan`)."""
    cfg = thread_config(session)
    kind = plan["kind"]
    if kind == "input":
        app.invoke(plan["input"], cfg, durability=DURABILITY)
    elif kind == "continue":
        app.invoke(None, cfg, durability=DURABILITY)
    elif kind == "resume":
        app.invoke(Command(resume=plan["resume"]), cfg, durability=DURABILITY)
    elif kind == "rewind":
        rewind(app, session, plan["checkpoint_id"], plan["answers"])
    else:  # pragma: no cover - plans are made in this module
        raise ValueError(f"unknown run plan {kind!r}")


def rewind(app: Any, session: Session, checkpoint_id: str, answers: dict[str, Any]) -> None:
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
    app.invoke(None, thread_config(session), durability=DURABILITY)
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
        app.invoke(Command(resume=resume), thread_config(session), durability=DURABILITY)


def execute(
    session: Session,
    run: Run,
    app: Any,
    plan: Plan,
    *,
    lease: dt.datetime,
    restore: str | None,
    in_task: bool = False,
) -> None:
    """Run the graph for a claimed session and record the outcome on the rows.

    A storage outage undoes the claim (`restore` is the status to go back to; None
    means this was the start, whose rows are removed) and raises CheckpointerUnavailable;
    inside a task, where nobody would see the 503, it marks the session failed instead.
    Any other exception is the graph's: the session becomes `failed`, resumable.
    """
    try:
        invoke(app, session, plan)
        snapshot = app.get_state(thread_config(session))
    except Exception as exc:
        if is_outage(exc):
            if not in_task:
                finish_run(run.pk, RunStatus.FAILED, describe_error(exc))
                if restore is None:
                    Session.objects.filter(pk=session.pk, lease_expires_at=lease).delete()
                else:
                    release(session, lease, restore)
                raise unavailable(exc) from exc
            error = f"{describe_error(exc)}; resume to retry"
        else:
            logger.info("session %s failed: %s", session.pk, describe_error(exc), exc_info=True)
            error = describe_error(exc)
        interrupts = answerable(app, session)
        with transaction.atomic():  # one commit for both rows
            finish(
                session,
                lease,
                status=SessionStatus.FAILED,
                error=error,
                interrupts=interrupts,
                output=None,
            )
            finish_run(run.pk, RunStatus.FAILED, error)
        return

    fields = outcome(app, session, snapshot)
    with transaction.atomic():  # one commit for both rows
        finish(session, lease, **fields)
        finish_run(run.pk, RunStatus.SUCCEEDED, "")


def outcome(
    app: Any, session: Session, snapshot: Any, *, stuck_error: str | None = None
) -> dict[str, Any]:
    """Session fields for where the graph stopped: waiting, finished, or stuck.

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
