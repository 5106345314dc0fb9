"""Starting, resuming and cancelling sessions: the only code that runs graphs.

Every status change is a compare-and-set UPDATE (`... WHERE status = <what we read>`),
so of two requests racing for one session exactly one wins and the other gets
SessionBusy or SessionNotResumable. The winner holds a lease (`lease_expires_at`); the
lease value doubles as the claim's token, so the final write of a run that was
presumed crashed (and recovered, or claimed again) cannot overwrite newer state.

No database transaction is held while a graph runs: a run can take minutes (LLM calls)
and must not lock rows or, on SQLite, the whole database.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, transaction
from langgraph.types import Command

from yamlgraph_django import registry
from yamlgraph_django.conf import app_settings
from yamlgraph_django.exceptions import (
    InvalidInput,
    SessionBusy,
    SessionNotFound,
    SessionNotResumable,
)
from yamlgraph_django.models import Run, RunChannel, RunKind, RunStatus, Session, SessionStatus
from yamlgraph_django.services._common import (
    MISSING,
    TERMINAL,
    SessionRef,
    check_channel,
    describe_error,
    expiry,
    get_app,
    has_checkpoint,
    interrupts_of,
    is_finished,
    is_outage,
    lease_until,
    load_session,
    now,
    public_values,
    read_state,
    require_json,
    thread_config,
    unavailable,
    user_or_none,
    validate_input,
    validate_metadata,
    validate_thread_id,
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


# --------------------------------------------------------------------------- public API


def start_session(
    graph_name: str,
    input: dict[str, Any] | None = None,
    *,
    owner: Any = None,
    metadata: dict[str, Any] | None = None,
    thread_id: str | None = None,
    channel: str = RunChannel.PYTHON,
    background: bool | None = None,
) -> Session:
    """Start the latest version of `graph_name` and run it to its first interrupt or end.

    Input is checked against the graph's public state fields before anything is stored.
    With `background` (or RUN_MODE "background") the run is enqueued as a Django Task
    once the surrounding transaction commits, and the session is returned `pending`.
    A graph error does not raise: the session comes back `failed` with the error text
    and can be retried with `resume_session`. Raises GraphNotFound, InvalidInput,
    CheckpointerUnavailable (nothing is stored then).
    """
    definition = registry.get_latest(graph_name)
    from yamlgraph_django import runtime

    config = runtime.graph_config(definition)
    data = validate_input(config, input)
    meta = validate_metadata(metadata)
    thread = validate_thread_id(thread_id)
    channel = check_channel(channel)
    owner = user_or_none(owner)
    in_background = _wants_background(background)
    # Open the store before storing anything: if it is down, nothing happened (503).
    app = None if in_background else get_app(definition)

    stamp = now()
    lease = None if in_background else lease_until(stamp)
    session = Session(
        graph=definition,
        owner=owner,
        status=SessionStatus.PENDING if in_background else SessionStatus.RUNNING,
        input=data,
        metadata=meta,
        lease_expires_at=lease,
        expires_at=expiry(stamp),
    )
    session.thread_id = thread or str(session.id)
    try:
        with transaction.atomic():
            session.save(force_insert=True)
            run = Run.objects.create(
                session=session,
                kind=RunKind.START,
                actor=owner,
                channel=channel,
                value=data,
                status=RunStatus.QUEUED if in_background else RunStatus.RUNNING,
            )
    except IntegrityError:
        if Session.objects.filter(thread_id=session.thread_id).exists():
            raise InvalidInput(
                errors={"thread_id": f"a session with thread_id '{session.thread_id}' exists"}
            ) from None
        raise
    plan: Plan = {"kind": "input", "input": data}
    if in_background:
        _enqueue_on_commit(session, run, plan)
        return load_session(session)
    assert app is not None and lease is not None
    _execute(session, run, app, plan, lease=lease, restore=None)
    return load_session(session)


def resume_session(
    session: SessionRef,
    value: Any = MISSING,
    *,
    values: dict[str, Any] | None = None,
    actor: Any = None,
    channel: str = RunChannel.PYTHON,
    background: bool | None = None,
) -> Session:
    """Answer the pending interrupt(s) and run on to the next interrupt or the end.

    `value` answers the one pending interrupt; `values={interrupt_id: value}` answers
    several (or some) of them. A `failed` session is retried: without a value the failed
    step runs again from the last checkpoint (a transient LLM error); with a value the
    last question is answered again (the earlier answer made the graph fail).
    Raises SessionNotFound, InvalidInput (the session stays as it was), SessionBusy
    (another request is running it), SessionNotResumable (completed or cancelled),
    CheckpointerUnavailable (the session stays as it was). A graph error does not raise:
    the session comes back `failed`, with its checkpoints kept.
    """
    session = load_session(session)
    channel = check_channel(channel)
    actor = user_or_none(actor)
    if value is not MISSING and values is not None:
        raise InvalidInput(
            errors={"values": "give either value (one pending interrupt) or values, not both"}
        )
    previous = session.status
    _check_resumable(session, previous)
    app = get_app(session.graph)
    lease = _claim(session, previous, action="resume")
    try:
        plan, given = _plan_resume(app, session, previous, value, values)
    except BaseException:
        _release(session, lease, previous)
        raise

    if _wants_background(background):
        stamp = now()
        Session.objects.filter(
            pk=session.pk, status=SessionStatus.RUNNING, lease_expires_at=lease
        ).update(status=SessionStatus.PENDING, lease_expires_at=None, updated_at=stamp)
        run = Run.objects.create(
            session=session,
            kind=RunKind.RESUME,
            actor=actor,
            channel=channel,
            value=given,
            status=RunStatus.QUEUED,
        )
        _enqueue_on_commit(session, run, plan)
        return load_session(session)

    run = Run.objects.create(
        session=session,
        kind=RunKind.RESUME,
        actor=actor,
        channel=channel,
        value=given,
        status=RunStatus.RUNNING,
    )
    _execute(session, run, app, plan, lease=lease, restore=previous)
    return load_session(session)


def cancel_session(
    session: SessionRef, *, actor: Any = None, channel: str = RunChannel.PYTHON
) -> Session:
    """Stop a pending, interrupted or failed session for good; its checkpoints stay.

    A running session cannot be cancelled mid-step (SessionBusy: try again when it
    pauses); a completed or cancelled one raises SessionNotResumable.
    """
    session = load_session(session)
    channel = check_channel(channel)
    previous = session.status
    if previous == SessionStatus.RUNNING:
        raise SessionBusy(
            f"Session {session.pk} is running; cancel it once it has paused or finished."
        )
    if previous in TERMINAL:
        raise SessionNotResumable(f"Session {session.pk} is already {previous}.")
    stamp = now()
    updated = Session.objects.filter(pk=session.pk, status=previous).update(
        status=SessionStatus.CANCELLED,
        interrupts=[],
        lease_expires_at=None,
        finished_at=stamp,
        updated_at=stamp,
        expires_at=expiry(stamp),
    )
    if updated != 1:
        _raise_conflict(session, action="cancel")
    Run.objects.create(
        session=session,
        kind=RunKind.CANCEL,
        actor=user_or_none(actor),
        channel=channel,
        status=RunStatus.SUCCEEDED,
        finished_at=stamp,
    )
    return load_session(session)


def run_queued(session_id: str, run_id: int, plan: Plan) -> str:
    """Execute a run enqueued by `start_session`/`resume_session` (the task's body).

    Returns the session's status afterwards (the task result). Never raises for graph
    errors or outages: those are recorded on the session, which stays resumable, because
    a task backend's retry would not know how to undo a half-finished run.
    """
    try:
        session = Session.objects.select_related("graph").get(pk=session_id)
    except Session.DoesNotExist:
        logger.warning("queued run %s: session %s no longer exists", run_id, session_id)
        return "deleted"
    if session.status != SessionStatus.PENDING:
        _finish_run(run_id, RunStatus.FAILED, f"not run: the session was {session.status}")
        return str(session.status)
    try:
        app = get_app(session.graph)
    except Exception as exc:  # the store is down on this worker, or the graph is broken
        stamp = now()
        Session.objects.filter(pk=session.pk, status=SessionStatus.PENDING).update(
            status=SessionStatus.FAILED,
            error=f"{describe_error(exc)}; resume to retry",
            finished_at=stamp,
            updated_at=stamp,
            expires_at=expiry(stamp),
        )
        _finish_run(run_id, RunStatus.FAILED, describe_error(exc))
        return SessionStatus.FAILED
    try:
        lease = _claim(session, SessionStatus.PENDING, action="run")
    except (SessionBusy, SessionNotResumable, SessionNotFound) as exc:
        _finish_run(run_id, RunStatus.FAILED, f"not run: {exc.detail}")
        return "skipped"
    Run.objects.filter(pk=run_id).update(status=RunStatus.RUNNING)
    run = Run.objects.get(pk=run_id)
    _execute(session, run, app, plan, lease=lease, restore=None, in_task=True)
    return str(Session.objects.filter(pk=session.pk).values_list("status", flat=True).first())


# --------------------------------------------------------------------------- claiming


def _check_resumable(session: Session, status: str) -> None:
    if status in (SessionStatus.RUNNING, SessionStatus.PENDING):
        raise SessionBusy(
            f"Session {session.pk} is {status}: another request is running it; "
            "try again when it has paused."
        )
    if status not in (SessionStatus.INTERRUPTED, SessionStatus.FAILED):
        raise SessionNotResumable(
            f"Session {session.pk} is {status}; only interrupted or failed sessions can be resumed."
        )


def _claim(session: Session, expected: str, *, action: str) -> dt.datetime:
    """CAS `expected` -> running with a fresh lease; the lease is the claim's token."""
    stamp = now()
    lease = lease_until(stamp)
    updated = Session.objects.filter(pk=session.pk, status=expected).update(
        status=SessionStatus.RUNNING, lease_expires_at=lease, updated_at=stamp
    )
    if updated != 1:
        _raise_conflict(session, action=action)
    return lease


def _raise_conflict(session: Session, *, action: str) -> None:
    """Someone else changed the session between our read and our UPDATE: say what."""
    current = Session.objects.filter(pk=session.pk).values_list("status", flat=True).first()
    if current is None:
        raise SessionNotFound(f"Session {session.pk} no longer exists.")
    if current in (SessionStatus.RUNNING, SessionStatus.PENDING):
        raise SessionBusy(
            f"Session {session.pk} is {current}: another request is running it; "
            "try again when it has paused."
        )
    raise SessionNotResumable(f"Cannot {action} session {session.pk}: it is {current}.")


def _release(session: Session, lease: dt.datetime, status: str) -> None:
    """Undo our claim: the session goes back to `status` as if we had never touched it."""
    Session.objects.filter(
        pk=session.pk, status=SessionStatus.RUNNING, lease_expires_at=lease
    ).update(status=status, lease_expires_at=None, updated_at=now())


def _wants_background(background: bool | None) -> bool:
    if background is None:
        return app_settings.RUN_MODE == "background"
    return bool(background)


def _enqueue_on_commit(session: Session, run: Run, plan: Plan) -> None:
    """Enqueue after commit, so a worker never looks for rows it cannot see yet."""
    session_id, run_id = str(session.pk), run.pk

    def enqueue() -> None:
        from yamlgraph_django.tasks import run_session

        try:
            run_session.enqueue(session_id, run_id, plan)
        except Exception as exc:
            logger.exception("could not enqueue run %s of session %s", run_id, session_id)
            stamp = now()
            Session.objects.filter(pk=session_id, status=SessionStatus.PENDING).update(
                status=SessionStatus.FAILED,
                error=f"could not enqueue the run: {describe_error(exc)}; resume to retry",
                finished_at=stamp,
                updated_at=stamp,
            )
            _finish_run(run_id, RunStatus.FAILED, describe_error(exc))

    transaction.on_commit(enqueue)


# --------------------------------------------------------------------------- planning


def _plan_resume(
    app: Any, session: Session, previous: str, value: Any, values: dict[str, Any] | None
) -> tuple[Plan, Any]:
    """Read the checkpoint and decide what to invoke; InvalidInput if the answer does
    not fit what the session is waiting for. Returns (plan, the value to audit)."""
    answering = value is not MISSING or values is not None
    snapshot = read_state(app, session)
    if not has_checkpoint(snapshot):
        # A start that failed before LangGraph wrote anything: run it again from the input.
        if answering:
            raise InvalidInput(
                errors={
                    "value": "the session is not waiting for an answer; "
                    "resume without a value to retry it"
                }
            )
        return {"kind": "input", "input": session.input}, None

    pending = _pending(snapshot)
    rewind_from: str | None = None
    if not pending and answering and previous == SessionStatus.FAILED:
        earlier = _last_question(app, session)
        if earlier is not None:
            pending = _pending(earlier)
            rewind_from = earlier.config["configurable"]["checkpoint_id"]
    if not pending:
        if answering:
            raise InvalidInput(
                errors={
                    "value": "the session is not waiting for an answer; "
                    "resume without a value to retry it"
                }
            )
        return {"kind": "continue"}, None
    if not answering:
        questions = "; ".join(f"{i.id}: {i.value!r}" for i in pending)
        raise InvalidInput(errors={"value": f"the session is waiting for an answer ({questions})"})

    ids = [i.id for i in pending]
    if values is not None:
        if not isinstance(values, dict) or not values:
            raise InvalidInput(
                errors={"values": "must be a non-empty object of {interrupt_id: value}"}
            )
        unknown = [str(key) for key in values if key not in ids]
        if unknown:
            raise InvalidInput(
                errors={
                    "values": f"unknown interrupt id(s) {', '.join(unknown)}; "
                    f"pending: {', '.join(ids)}"
                }
            )
        answers, given, field = dict(values), dict(values), "values"
    else:
        if len(pending) > 1:
            raise InvalidInput(
                errors={
                    "value": f"{len(pending)} interrupts are pending; answer them with "
                    f"values={{interrupt_id: value}} (ids: {', '.join(ids)})"
                }
            )
        answers, given, field = {ids[0]: value}, value, "value"
    require_json(answers, field)
    if rewind_from is not None:
        return {"kind": "rewind", "checkpoint_id": rewind_from, "answers": answers}, given
    return {"kind": "resume", "resume": answers}, given


def _pending(snapshot: Any) -> list[Any]:
    return list(snapshot.interrupts or ())


def _last_question(app: Any, session: Session) -> Any:
    """The newest checkpoint at which the session waited for an answer, or None."""
    history = app.get_state_history(thread_config(session), limit=REWIND_SEARCH_LIMIT)
    for snapshot in history:
        if snapshot.interrupts:
            return snapshot
    return None


# --------------------------------------------------------------------------- running


#: Each step's checkpoint is saved before the next step starts. LangGraph's default
#: ("async") saves it while the next step runs, which (a) can lose a finished step on a
#: crash, and (b) lets a step's writes reach the store before its checkpoint: the Redis
#: saver then records the checkpoint as having no writes and a pending interrupt
#: vanishes from the session (seen intermittently under load).
DURABILITY = "sync"


def _invoke(app: Any, session: Session, plan: Plan) -> None:
    cfg = thread_config(session)
    kind = plan["kind"]
    if kind == "input":
        app.invoke(plan["input"], cfg, durability=DURABILITY)
    elif kind == "continue":
        app.invoke(None, cfg, durability=DURABILITY)
    elif kind == "resume":
        app.invoke(Command(resume=plan["resume"]), cfg, durability=DURABILITY)
    elif kind == "rewind":
        _rewind(app, session, plan["checkpoint_id"], plan["answers"])
    else:  # pragma: no cover - plans are made in this module
        raise ValueError(f"unknown run plan {kind!r}")


def _rewind(app: Any, session: Session, checkpoint_id: str, answers: dict[str, Any]) -> None:
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


def _execute(
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
        _invoke(app, session, plan)
        snapshot = app.get_state(thread_config(session))
    except Exception as exc:
        if is_outage(exc):
            if not in_task:
                _finish_run(run.pk, RunStatus.FAILED, describe_error(exc))
                if restore is None:
                    Session.objects.filter(pk=session.pk, lease_expires_at=lease).delete()
                else:
                    _release(session, lease, restore)
                raise unavailable(exc) from exc
            error = f"{describe_error(exc)}; resume to retry"
        else:
            logger.info("session %s failed: %s", session.pk, describe_error(exc), exc_info=True)
            error = describe_error(exc)
        _finish(
            session,
            lease,
            status=SessionStatus.FAILED,
            error=error,
            interrupts=_answerable(app, session),
            output=None,
        )
        _finish_run(run.pk, RunStatus.FAILED, error)
        return

    _finish(session, lease, **_outcome(app, session, snapshot))
    _finish_run(run.pk, RunStatus.SUCCEEDED, "")


def _outcome(app: Any, session: Session, snapshot: Any) -> dict[str, Any]:
    """Session fields for where the graph stopped: waiting, finished, or stuck."""
    pending = interrupts_of(snapshot)
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
    return {
        "status": SessionStatus.FAILED,
        "interrupts": _answerable(app, session),
        "output": None,
        "error": f"the graph stopped before the end (next: {', '.join(snapshot.next) or '?'}); "
        "resume to retry",
    }


def _answerable(app: Any, session: Session) -> list[dict[str, Any]]:
    """For a failed session: the last question, which a resume with a value answers again."""
    try:
        snapshot = _last_question(app, session)
    except Exception:
        logger.warning("cannot read the history of session %s", session.pk, exc_info=True)
        return []
    return interrupts_of(snapshot) if snapshot is not None else []


def _finish(session: Session, lease: dt.datetime, **fields: Any) -> bool:
    """Write the run's outcome if our claim still stands (CAS on status + lease token)."""
    stamp = now()
    status = fields["status"]
    fields.update(
        lease_expires_at=None,
        updated_at=stamp,
        expires_at=expiry(stamp),
        finished_at=None if status == SessionStatus.INTERRUPTED else stamp,
    )
    updated = Session.objects.filter(
        pk=session.pk, status=SessionStatus.RUNNING, lease_expires_at=lease
    ).update(**fields)
    if updated != 1:
        logger.warning(
            "session %s changed while it ran (recovered, cancelled or deleted); "
            "its outcome (%s) was not recorded on the row",
            session.pk,
            status,
        )
    return updated == 1


def _finish_run(run_id: int, status: str, error: str) -> None:
    Run.objects.filter(pk=run_id).update(status=status, error=error, finished_at=now())
