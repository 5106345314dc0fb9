"""Background runs: the Django Task a worker executes, and how the service enqueues it.

Django 6 ships the Tasks framework as `django.tasks`; on Django 5.2 the `django-tasks`
backport provides the same API. Which backend runs the task is the project's TASKS
setting. The task carries only ids and a JSON plan; the claim and the execution are the
same as for a run in the request.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import connections, transaction

from yamlgraph_django.exceptions import (
    CheckpointerUnavailable,
    SessionBusy,
    SessionNotFound,
    SessionNotResumable,
)
from yamlgraph_django.extras import require_task_backends
from yamlgraph_django.models import Run, RunStatus, Session, SessionStatus
from yamlgraph_django.services.execution import Plan, describe_error, execute, finish_run
from yamlgraph_django.services.stores import get_app, store_errors

try:  # Django >= 6.0
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task

logger = logging.getLogger("yamlgraph_django.services")

# @task() looks up the TASKS backend now: a backend whose extra is missing (RQ) gets the
# pip line that installs it instead of a bare "No module named ...".
require_task_backends()


#: Plan key of a run someone watches in this process (a start or resume with "stream":
#: true): a store outage then puts the session back as it was (plan["restore"]; None
#: removes a start), as in a request, instead of failing it as a worker does.
WATCHED = "watched"


@task()
def run_session(session_id: str, run_id: int, plan: dict[str, Any]) -> str:
    """Run a queued start or resume of a session; returns the session's status afterwards."""
    return run_queued(session_id, run_id, plan)


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
        finish_run(run_id, RunStatus.FAILED, f"not run: the session was {session.status}")
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
        finish_run(run_id, RunStatus.FAILED, f"not run: {exc.detail}")
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
            run_session.enqueue(session_id, run_id, plan)
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
