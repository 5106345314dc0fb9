"""Starting, resuming and cancelling sessions: the public entry points that run graphs.

Each call reads what it needs once: the session as the caller loaded it (its revision is
what the claim compares), the graph's compiled app from the per-process cache, and the
state after the run, which is handed back on the session (`session.live_state`) so the
caller does not read the checkpoint again. A background run is the same claim and
execution, performed by the engine's task (`services.engine.run_session`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from yamlgraph_django import registry
from yamlgraph_django.conf import app_settings
from yamlgraph_django.exceptions import (
    InvalidInput,
    SessionBusy,
    SessionNotFound,
    SessionNotResumable,
    StaleQuestion,
)
from yamlgraph_django.managers import expiry, lease_until
from yamlgraph_django.models import (
    GraphDefinition,
    Run,
    RunChannel,
    RunKind,
    RunStatus,
    Session,
    SessionStatus,
)
from yamlgraph_django.services import engine, questions, rules
from yamlgraph_django.services.answers import check_start_input
from yamlgraph_django.services.engine import (
    API_DOOR,
    WATCHED,
    Plan,
    enqueue_on_commit,
    enqueue_run,
    execute,
    refuse_queued,
    wait_for_end,
)
from yamlgraph_django.services.planning import plan_resume
from yamlgraph_django.services.run_events import CANCEL_REQUESTED, STOP_REQUESTED
from yamlgraph_django.services.state import get_state
from yamlgraph_django.services.stores import get_app, graph_config
from yamlgraph_django.services.validation import (
    MISSING,
    check_channel,
    require_json,
    user_or_none,
    validate_input,
    validate_metadata,
    validate_thread_id,
)
from yamlgraph_django.services.webhooks import validate_webhook

logger = logging.getLogger("yamlgraph_django.services")

SessionRef = Session | str | Any  # a Session, or its id (UUID or string)

MULTITASK_STRATEGIES = ("reject", "enqueue", "interrupt")
#: How long "interrupt" waits for the running run to reach its next step boundary, and
#: how long a cancel of a running session waits before it answers "stop pending".
INTERRUPT_WAIT_SECONDS = 30.0
CANCEL_WAIT_SECONDS = 5.0


def start_session(
    graph: str | GraphDefinition,
    input: dict[str, Any] | None = None,
    *,
    owner: Any = None,
    metadata: dict[str, Any] | None = None,
    thread_id: str | None = None,
    channel: str = RunChannel.PYTHON,
    background: bool | None = None,
    stream: bool = False,
    webhook: str | None = None,
) -> Session:
    """Start the latest version of a graph (a name, or a definition already looked up)
    and run it to its first interrupt or end.

    Input is checked against the graph's public state fields before anything is stored.
    With `background` (or RUN_MODE "background") the run is enqueued as a Django Task
    once the surrounding transaction commits, and the session is returned `pending`.
    A graph error does not raise: the session comes back `failed` with the error text
    and can be retried with `resume_session`. With `stream` the run executes in a
    thread of this process once the transaction commits, and the session is returned
    `pending` with `session.queued_run`, whose events the caller reads from the log.
    `webhook`, an http(s) URL, is POSTed the session on each interruption, completion
    and failure (services.webhooks).
    Raises GraphNotFound, InvalidInput, CheckpointerUnavailable (nothing is stored then).
    """
    definition = graph if isinstance(graph, GraphDefinition) else registry.get_latest(graph)
    rules.authorize_start(owner, definition)
    config = graph_config(definition)
    data = validate_input(config, input)
    check_start_input(config, data)  # required state fields
    meta = validate_metadata(metadata)
    thread = validate_thread_id(thread_id)
    webhook_url = validate_webhook(webhook)
    channel = check_channel(channel)
    owner = user_or_none(owner)
    in_background = stream or wants_background(background)
    # Open the store before storing anything: if it is down, nothing happened (503).
    app = None if in_background else get_app(definition)

    session = Session(
        graph=definition,
        owner=owner,
        status=SessionStatus.PENDING if in_background else SessionStatus.RUNNING,
        input=data,
        metadata=meta,
        lease_expires_at=None if in_background else lease_until(),
        expires_at=expiry(),
        webhook=webhook_url,
    )
    session.thread_id = thread or str(session.id)
    _insert(session, chosen_thread=thread is not None)
    run = Run.objects.create(
        session=session,
        kind=RunKind.START,
        actor=owner,
        channel=channel,
        value=data,
        status=RunStatus.QUEUED if in_background else RunStatus.RUNNING,
    )
    plan: Plan = {"kind": "input", "input": data}
    if stream:  # watched: an outage removes the start, as in a request (see run_queued)
        plan = {**plan, WATCHED: True, "restore": None}
    if in_background:
        session.queued_run = run
        enqueue_on_commit(session, run, plan, in_thread=stream)
        return session
    assert app is not None and session.lease_expires_at is not None
    session.live_state = execute(
        session, run, app, plan, lease=session.lease_expires_at, restore=None
    )
    return session


def resume_session(
    session: SessionRef,
    value: Any = MISSING,
    *,
    values: dict[str, Any] | None = None,
    actor: Any = None,
    channel: str = RunChannel.PYTHON,
    background: bool | None = None,
    revision: int | None = None,
    multitask_strategy: str = "reject",
    stream: bool = False,
    queued_run: Run | None = None,
) -> Session:
    """Answer the pending interrupt(s) and run on to the next interrupt or the end.

    `value` answers the one pending interrupt of the session as the caller read it;
    `values={interrupt_id: value}` answers several (or some). `revision`, if given, is
    the revision the caller answered (an ETag): StaleQuestion unless it is current.
    A `failed` session is retried: without a value the failed step runs again from the
    last checkpoint; with a value the last question is answered again.
    While another run holds the session, `multitask_strategy` decides: "reject"
    (SessionBusy), "enqueue" (a queued Run row, executed on a worker after the runs
    before it, answering whatever is pending then; `session.queued_run`), "interrupt"
    (the running run stops at its next step, keeping its checkpoints, then this one
    runs). `stream` runs it in a thread of this process (see `start_session`).
    Raises SessionNotFound, InvalidInput (the session stays as it was), SessionBusy
    (another request is running it), StaleQuestion (another answer won since the caller
    read the question), SessionNotResumable (completed or cancelled),
    CheckpointerUnavailable (the session stays as it was). A graph error does not raise:
    the session comes back `failed`, with its checkpoints kept.
    """
    session = Session.objects.resolve(session)
    if queued_run is None:  # a queued answer was authorized when it was queued
        rules.authorize_answer(actor, session, rules.answered_ids(session, values))
    channel = check_channel(channel)
    actor = user_or_none(actor)
    if multitask_strategy not in MULTITASK_STRATEGIES:
        raise InvalidInput(
            errors={"multitask_strategy": f"must be one of {', '.join(MULTITASK_STRATEGIES)}"}
        )
    if value is not MISSING and values is not None:
        raise InvalidInput(
            errors={"values": "give either value (one pending interrupt) or values, not both"}
        )
    if queued_run is None and session.status in (SessionStatus.RUNNING, SessionStatus.PENDING):
        if multitask_strategy == "enqueue":
            return enqueue_resume(session, value, values, actor=actor, channel=channel)
        if multitask_strategy == "interrupt":
            session = interrupt_running(session)
    if revision is not None and revision != session.revision:
        raise StaleQuestion(
            f"Session {session.pk} is at revision {session.revision}, not {revision}; "
            "read it again and answer the current question."
        )
    previous = session.status
    if previous not in (SessionStatus.INTERRUPTED, SessionStatus.FAILED):
        Session.objects.raise_conflict(session, action="resume")
    app = get_app(session.graph)
    plan, given = plan_resume(app, session, value, values)
    try:
        lease = Session.objects.claim(session, action="resume")
    except (SessionBusy, StaleQuestion):
        if multitask_strategy != "enqueue" or queued_run is not None:
            raise
        # Another request got there first (two answers at once): queue behind it. An
        # enqueued answer answers what is pending when its turn comes, so a question
        # that changed meanwhile is no conflict, unless the caller named a revision.
        if revision is not None:
            raise
        return enqueue_resume(session, value, values, actor=actor, channel=channel)
    in_background = stream or wants_background(background)
    try:
        if in_background:
            Session.objects.release(session, lease, SessionStatus.PENDING)
        if queued_run is not None:
            run = queued_run
            if not Run.objects.begin(run.pk, value=given):
                raise SessionNotResumable(f"Run {run.pk} was cancelled before it started.")
        else:
            run = Run.objects.create(
                session=session,
                kind=RunKind.RESUME,
                actor=actor,
                channel=channel,
                value=given,
                status=RunStatus.QUEUED if in_background else RunStatus.RUNNING,
            )
    except BaseException:
        Session.objects.release(session, lease, previous)
        raise
    if in_background:
        session.queued_run = run
        if stream:  # watched: an outage puts the session back as it was (see run_queued)
            plan = {**plan, WATCHED: True, "restore": str(previous)}
        enqueue_on_commit(session, run, plan, in_thread=stream)
    else:
        session.live_state = execute(  # a queued answer runs on a worker: nobody sees a 503
            session, run, app, plan, lease=lease, restore=previous, in_task=queued_run is not None
        )
    return session


def enqueue_resume(
    session: Session, value: Any, values: dict[str, Any] | None, *, actor: Any, channel: str
) -> Session:
    """Queue an answer behind the session's active run (multitask "enqueue"): a queued
    Run row that starts when the runs before it have ended (`engine.dispatch_next`)."""
    answer: dict[str, Any] = {}
    if value is not MISSING:
        require_json(value, "value")
        answer["value"] = value
    if values is not None:
        require_json(values, "values")
        answer["values"] = values
    session.queued_run = enqueue_run(
        session,
        {"door": API_DOOR, "answer": answer},
        actor=actor,
        channel=channel,
        value=answer.get("values", answer.get("value")),
    )
    return session


def interrupt_running(session: Session) -> Session:
    """Ask the session's running run to stop at its next step, wait for it, and return
    the session as the stop left it (SessionBusy if it did not stop in time)."""
    Run.objects.request_stop(session.pk, STOP_REQUESTED)  # read between its steps
    if wait_for_end(session.pk, lambda: not is_active(session), INTERRUPT_WAIT_SECONDS):
        return session
    raise SessionBusy(
        f"Session {session.pk} is still running: its run was asked to stop and has not "
        "reached a step boundary yet; try again."
    )


def cancel_session(
    session: SessionRef, *, actor: Any = None, channel: str = RunChannel.PYTHON
) -> Session:
    """Stop a session for good; its checkpoints stay.

    A running session is asked to stop at its next step: the call waits up to
    CANCEL_WAIT_SECONDS for that and returns the session, `cancelled` once the step has
    ended (or still `running`, the stop pending, when the step is long). A completed or
    cancelled one raises SessionNotResumable.
    """
    session = Session.objects.resolve(session)
    rules.authorize_cancel(actor, session)
    channel = check_channel(channel)
    # Read the state first: with the store down the cancel answers 503 having changed
    # nothing. A cancel writes no checkpoint, so this state is the one to show after.
    if session.graph_id is not None:
        get_state(session)
    if session.status == SessionStatus.RUNNING:
        session.live_state = None  # the run goes on to its next step: read it again
        if not Run.objects.request_stop(session.pk, CANCEL_REQUESTED):
            Session.objects.raise_conflict(session, action="cancel")
        wait_for_end(
            session.pk, lambda: reread(session) != SessionStatus.RUNNING, CANCEL_WAIT_SECONDS
        )
        if session.status in (SessionStatus.RUNNING, SessionStatus.CANCELLED):
            record_cancel(session, actor, channel, timezone.now())
            return session
        # The run reached an interrupt or its end before its next step: cancel what it
        # left (a completed session is SessionNotResumable, as if it had finished first).
    stamp = Session.objects.cancel(session)
    questions.cancel_open(session)
    Run.objects.cancel_queued(session.pk)
    record_cancel(session, actor, channel, stamp)
    return session


def reread(session: Session) -> str:
    """The session's status now (the instance refreshed)."""
    session.refresh_from_db()
    return session.status


def is_active(session: Session) -> bool:
    """Is a run still running the session, or about to (the instance refreshed)?"""
    return reread(session) in (SessionStatus.RUNNING, SessionStatus.PENDING)


def record_cancel(session: Session, actor: Any, channel: str, stamp: Any) -> None:
    Run.objects.create(
        session=session,
        kind=RunKind.CANCEL,
        actor=user_or_none(actor),
        channel=channel,
        status=RunStatus.SUCCEEDED,
        finished_at=stamp,
    )


def _insert(session: Session, *, chosen_thread: bool) -> None:
    """Insert a new session row; a thread id the caller chose may be taken already.

    Only then can the INSERT fail, so only then does it need its own savepoint (one
    more statement on SQLite); a run row is inserted after it without a transaction,
    since a session left without one is settled by recovery like any crashed run.
    """
    if not chosen_thread:
        session.save(force_insert=True)
        return
    try:
        with transaction.atomic():
            session.save(force_insert=True)
    except IntegrityError:
        if Session.objects.filter(thread_id=session.thread_id).exists():
            raise InvalidInput(
                errors={"thread_id": f"a session with thread_id '{session.thread_id}' exists"}
            ) from None
        raise


def wants_background(background: bool | None) -> bool:
    """Does this call run on a worker? The caller's choice, else RUN_MODE."""
    if background is None:
        return app_settings.RUN_MODE == "background"
    return bool(background)


# ----------------------------------------------------------------- queued answers


def run_queued_answer(session: Session, run: Run) -> str:
    """Run an answer queued behind another run (multitask "enqueue") now that its turn
    has come (`engine.take_turn`): it answers whatever is pending now. Returns the
    session's status, "waiting" (someone claimed the session first: it stays queued),
    "skipped" or "failed" (it cannot run: the run row says why)."""
    answer = dict((run.request or {}).get("answer") or {})
    try:
        session = resume_session(
            session,
            answer.get("value", MISSING),
            values=answer.get("values"),
            actor=run.actor,
            channel=run.channel,
            background=False,
            queued_run=run,
        )
    except SessionBusy:
        return "waiting"
    except (SessionNotResumable, SessionNotFound) as exc:
        refuse_queued(run.pk, exc)
        return "skipped"
    except Exception as exc:  # InvalidInput, StaleQuestion, an outage: recorded, not raised
        refuse_queued(run.pk, exc)
        return "failed"
    return str(session.status)


engine.RUNNERS[API_DOOR] = run_queued_answer
