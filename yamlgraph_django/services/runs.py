"""Starting, resuming and cancelling sessions: the public entry points that run graphs.

The pieces live beside this module: `_validation` checks what callers give, `_claims`
does the compare-and-set status changes, `_planning` decides what a resume invokes and
`_execution` runs the graph and records the outcome. A background run is the same
claim + execution, performed by the task in `yamlgraph_django.tasks`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction

from yamlgraph_django import registry
from yamlgraph_django.conf import app_settings
from yamlgraph_django.exceptions import (
    InvalidInput,
    SessionBusy,
    SessionNotFound,
    SessionNotResumable,
)
from yamlgraph_django.models import Run, RunChannel, RunKind, RunStatus, Session, SessionStatus
from yamlgraph_django.services._claims import (
    check_resumable,
    claim,
    finish_run,
    raise_conflict,
    release,
)
from yamlgraph_django.services._common import (
    MISSING,
    TERMINAL,
    SessionRef,
    describe_error,
    expiry,
    get_app,
    graph_config,
    is_outage,
    lease_until,
    load_session,
    now,
    unavailable,
    user_or_none,
)
from yamlgraph_django.services._execution import Plan, execute
from yamlgraph_django.services._planning import StaleQuestion, plan_resume
from yamlgraph_django.services._validation import (
    check_channel,
    validate_input,
    validate_metadata,
    validate_thread_id,
)
from yamlgraph_django.services.answers import check_start_input

logger = logging.getLogger("yamlgraph_django.services")


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
    config = graph_config(definition)
    data = validate_input(config, input)
    check_start_input(config, data)  # issue 14: required state fields
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
    execute(session, run, app, plan, lease=lease, restore=None)
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
    check_resumable(session, previous)
    app = get_app(session.graph)
    lease = claim(session, previous, action="resume")
    try:
        plan, given = plan_resume(app, session, previous, value, values)
    except StaleQuestion as exc:
        release(session, lease, previous, interrupts=exc.current)
        raise exc.error from None
    except BaseException as exc:
        release(session, lease, previous)
        if isinstance(exc, Exception) and is_outage(exc):
            raise unavailable(exc) from exc
        raise

    in_background = _wants_background(background)
    if in_background:
        Session.objects.filter(
            pk=session.pk, status=SessionStatus.RUNNING, lease_expires_at=lease
        ).update(status=SessionStatus.PENDING, lease_expires_at=None, updated_at=now())
    run = Run.objects.create(
        session=session,
        kind=RunKind.RESUME,
        actor=actor,
        channel=channel,
        value=given,
        status=RunStatus.QUEUED if in_background else RunStatus.RUNNING,
    )
    if in_background:
        _enqueue_on_commit(session, run, plan)
    else:
        execute(session, run, app, plan, lease=lease, restore=previous)
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
        raise_conflict(session, action="cancel")
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
        finish_run(run_id, RunStatus.FAILED, f"not run: the session was {session.status}")
        return str(session.status)
    try:
        app = get_app(session.graph)
    except Exception as exc:  # the store is down on this worker, or the graph is broken
        _fail_queued(session_id, run_id, exc, prefix="", renew_expiry=True)
        return SessionStatus.FAILED
    try:
        lease = claim(session, SessionStatus.PENDING, action="run")
    except (SessionBusy, SessionNotResumable, SessionNotFound) as exc:
        finish_run(run_id, RunStatus.FAILED, f"not run: {exc.detail}")
        return "skipped"
    Run.objects.filter(pk=run_id).update(status=RunStatus.RUNNING)
    run = Run.objects.get(pk=run_id)
    execute(session, run, app, plan, lease=lease, restore=None, in_task=True)
    return str(Session.objects.filter(pk=session.pk).values_list("status", flat=True).first())


# --------------------------------------------------------------------------- background


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
            _fail_queued(session_id, run_id, exc, prefix="could not enqueue the run: ")

    transaction.on_commit(enqueue)


def _fail_queued(
    session_id: Any, run_id: int, exc: Exception, *, prefix: str, renew_expiry: bool = False
) -> None:
    """A queued run that cannot start: the session, if still pending, fails (resumable),
    and so does the run. `renew_expiry` restarts the session's time to live."""
    stamp = now()
    fields: dict[str, Any] = {"expires_at": expiry(stamp)} if renew_expiry else {}
    Session.objects.filter(pk=session_id, status=SessionStatus.PENDING).update(
        status=SessionStatus.FAILED,
        error=f"{prefix}{describe_error(exc)}; resume to retry",
        finished_at=stamp,
        updated_at=stamp,
        **fields,
    )
    finish_run(run_id, RunStatus.FAILED, describe_error(exc))
