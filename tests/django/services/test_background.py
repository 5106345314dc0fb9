"""Background runs: the service enqueues a Django Task after commit; a worker runs it.

The immediate backend (the project's default) runs the task in process as soon as it is
enqueued; the dummy backend only records it, standing in for a queue whose worker has
not got to it yet, so the tests can play the worker by calling the task themselves.
Tests using the queue run in autocommit (`transaction=True`), where on-commit callbacks
fire as they would in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.test import override_settings

from yamlgraph_django.exceptions import InvalidInput, SessionBusy
from yamlgraph_django.models import RunControl, RunKind, RunStatus, Session, SessionStatus
from yamlgraph_django.services import (
    cancel_session,
    get_state,
    resume_session,
    start_session,
)
from yamlgraph_django.services.engine import run_session

pytestmark = pytest.mark.django_db

TASKS_MODULE = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
DUMMY = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.dummy.DummyBackend"}}


@pytest.fixture
def queue() -> Iterator[Any]:
    """A backend that keeps enqueued tasks instead of running them; yields the backend."""
    with override_settings(TASKS=DUMMY):
        backend = run_session.get_backend()
        backend.clear()
        yield backend
        backend.clear()


def work_off(queue: Any) -> list[Any]:
    """Play the worker: run every queued task, in order, as a worker process would."""
    results = []
    for result in list(queue.results):
        results.append(run_session.call(*result.args, **result.kwargs))
    queue.clear()
    return results


def test_a_background_start_runs_after_commit(graphs, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        session = start_session("interview", {"topic": "queues"}, background=True, channel="api")

    assert session.status == SessionStatus.PENDING
    run = session.runs.get()
    assert (run.kind, run.status, run.channel) == (RunKind.START, RunStatus.QUEUED, "api")
    assert get_state(session)["checkpoint_id"] is None  # nothing ran yet
    assert callbacks  # waiting for the commit

    for callback in callbacks:  # the transaction commits: the immediate backend runs it
        callback()

    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert session.interrupts[0]["value"] == "Hi! What is your name?"
    run.refresh_from_db()
    assert (run.status, run.channel) == (RunStatus.SUCCEEDED, "api")


@pytest.mark.django_db(transaction=True)
def test_run_mode_background_queues_start_and_resume(graphs, yamlgraph_settings, queue):
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "RUN_MODE": "background"}):
        session = start_session("interview")
        assert session.status == SessionStatus.PENDING
        assert work_off(queue) == [SessionStatus.INTERRUPTED]

        session = resume_session(session.pk, "Ada")  # the worker changed the row
        assert session.status == SessionStatus.PENDING
        assert session.runs.last().status == RunStatus.QUEUED
        assert work_off(queue) == [SessionStatus.INTERRUPTED]

    session.refresh_from_db()
    assert "Ada" in session.interrupts[0]["value"]
    resume_session(session, "win", background=False)  # a request may ask for sync
    assert session.status == SessionStatus.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_a_queued_session_is_busy_until_the_worker_ran_it(graphs, queue):
    session = start_session("interview", background=True)

    with pytest.raises(SessionBusy):
        resume_session(session, "Ada")
    work_off(queue)
    session = resume_session(session.pk, "Ada")
    assert session.status == SessionStatus.INTERRUPTED


@pytest.mark.django_db(transaction=True)
def test_bad_answers_are_refused_before_anything_is_queued(graphs, queue):
    session = start_session("pair")

    with pytest.raises(InvalidInput):
        resume_session(session, "one value for two questions", background=True)

    assert queue.results == []
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED


@pytest.mark.django_db(transaction=True)
def test_a_session_cancelled_while_queued_is_not_run(graphs, queue):
    session = start_session("interview", background=True)
    cancel_session(session)

    assert work_off(queue) == [SessionStatus.CANCELLED]

    session.refresh_from_db()
    assert session.status == SessionStatus.CANCELLED
    start = session.runs.get(kind=RunKind.START)
    # The cancel ended the queued run at once; the worker left it as the cancel wrote it.
    assert (start.status, start.control) == (RunStatus.CANCELLED, RunControl.CANCEL)
    assert start.error == "cancelled before it ran"


@pytest.mark.django_db(transaction=True)
def test_a_session_deleted_while_queued_is_skipped(graphs, queue):
    session = start_session("interview", background=True)
    Session.objects.filter(pk=session.pk).delete()

    assert work_off(queue) == ["deleted"]


@pytest.mark.django_db(transaction=True)
def test_a_graph_error_in_the_worker_fails_the_session_resumably(graphs, queue, fail_flag):
    fail_flag.touch()
    session = start_session("flaky", background=True)

    assert work_off(queue) == [SessionStatus.FAILED]
    session.refresh_from_db()
    assert session.error == "RuntimeError: the service is down"

    fail_flag.unlink()
    resume_session(session, background=True)
    assert work_off(queue) == [SessionStatus.COMPLETED]


@pytest.mark.django_db(transaction=True)
def test_a_store_outage_on_the_worker_fails_the_session_resumably(graphs, queue, store_down):
    session = start_session("interview", background=True)

    with store_down:
        assert work_off(queue) == [SessionStatus.FAILED]

    session.refresh_from_db()
    assert "resume to retry" in session.error
    assert session.runs.get().status == RunStatus.FAILED
    resume_session(session)  # never ran: starts from its input
    assert session.status == SessionStatus.INTERRUPTED
