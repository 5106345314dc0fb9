"""The run queue: multitask "enqueue" as `Run` rows that start when the run before ends.

A request that asks to `enqueue` behind a busy session never waits and is never refused:
it writes a `Run` row with status `queued`, its request in `Run.request` (what to run:
an API answer, or a LangGraph-protocol run request), and returns. Whenever a session's
run ends (the engine calls `run_ended` once the run's `end` is logged) and right after
a run is queued, `dispatch_next` hands the oldest queued row of an idle session to a worker
(Django Tasks). The worker claims the session as any run does; if someone else got
there first, the row stays queued for the next dispatch. So queued runs execute one
after another, in the order they were queued, wherever they were queued from.

    queued = enqueue_run(session, {"door": "api", "answer": {"value": "yes"}}, ...)
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from yamlgraph_django.extras import require_task_backends
from yamlgraph_django.models import Run, RunKind, RunStatus, Session, SessionStatus
from yamlgraph_django.status import ACTIVE_SESSION

try:  # Django >= 6.0
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task

logger = logging.getLogger("yamlgraph_django.services")

# @task() below looks up the TASKS backend now: a missing extra is named (as in tasks.py).
require_task_backends()

#: `Run.request["door"]` of a queued API/admin/command answer and of a protocol run.
API_DOOR = "api"
PROTOCOL_DOOR = "langgraph"

#: How a queued run of each door runs when its turn comes: (session, run) -> outcome.
#: `lifecycle` and `thread_runs` register theirs when imported (the package imports
#: both), so this module imports neither back.
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
        run_next.enqueue(str(session_id), run.pk)
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


@task()
def run_next(session_id: str, run_id: int) -> str:
    """Start a queued run (multitask "enqueue") whose turn has come."""
    return take_turn(session_id, run_id)
