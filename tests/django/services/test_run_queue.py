"""The run queue (multitask "enqueue"): queued Run rows start in order, on a worker, once
the session is idle; a queued run left waiting (its dispatch lost) is picked up again."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.django.services.conftest import GRAPHS, TOOLS
from yamlgraph_django.models import Run, RunKind, RunStatus, Session, SessionStatus
from yamlgraph_django.services import resume_session, start_session
from yamlgraph_django.services.engine import dispatch_overdue
from yamlgraph_django.services.run_request import API_DOOR, PROTOCOL_DOOR, RunRequest


@pytest.fixture
def graphs(register_graphs: Any) -> dict[str, Any]:
    return register_graphs(TOOLS, GRAPHS)


def queued_answer(session: Session, value: str, *, minutes_ago: int) -> Run:
    """A queued answer whose dispatch was lost (as if its process died right after the
    run before it ended)."""
    run = Run.objects.create(
        session=session,
        kind=RunKind.RESUME,
        channel="api",
        value=value,
        status=RunStatus.QUEUED,
        multitask_strategy="enqueue",
        request={"door": API_DOOR, "answer": {"value": value}},
    )
    Run.objects.filter(pk=run.pk).update(
        started_at=timezone.now() - dt.timedelta(minutes=minutes_ago)
    )
    return run


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_starts_queued_runs_left_waiting_in_order(graphs):
    session = start_session("interview")
    first = queued_answer(session, "Ada", minutes_ago=2)
    second = queued_answer(session, "ship it", minutes_ago=1)
    fresh = start_session("interview")
    recent = queued_answer(fresh, "Bob", minutes_ago=0)  # may still be on its way

    assert dispatch_overdue(older_than=30) == 1

    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED
    assert session.output["summary"] == "Summary: Ada wants to ship it."
    statuses = dict(Run.objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "status"))
    assert statuses == {first.pk: RunStatus.SUCCEEDED, second.pk: RunStatus.SUCCEEDED}
    assert Run.objects.get(pk=recent.pk).status == RunStatus.QUEUED
    assert Session.objects.get(pk=fresh.pk).status == SessionStatus.INTERRUPTED


def queued_protocol_run(session: Session, command: dict[str, Any], *, minutes_ago: int) -> Run:
    """A queued `/lg/` run (as `thread_runs.enqueue_request` writes it) left waiting."""
    request = RunRequest(graph_name=session.graph.name, command=command)
    run = Run.objects.create(
        session=session,
        kind=RunKind.RESUME,
        channel="langgraph",
        status=RunStatus.QUEUED,
        multitask_strategy="enqueue",
        request={"door": PROTOCOL_DOOR, "request": dataclasses.asdict(request)},
    )
    Run.objects.filter(pk=run.pk).update(
        started_at=timezone.now() - dt.timedelta(minutes=minutes_ago)
    )
    return run


#: How each door queues an answer, and what its request would have been refused with.
QUEUED_BY_DOOR = {
    API_DOOR: (
        lambda session: queued_answer(session, "too late", minutes_ago=2),
        "it is completed",
    ),
    PROTOCOL_DOOR: (
        lambda session: queued_protocol_run(session, {"resume": "too late"}, minutes_ago=2),
        "command: Cannot resume: the thread is not waiting for input",
    ),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("door", QUEUED_BY_DOOR)
def test_a_queued_answer_to_a_session_finished_meanwhile_ends_failed_saying_why(graphs, door):
    """Whichever door queued it, an answer whose turn comes after the session finished
    is not run: its row ends `failed` with "not run:" and the refusal a request would
    have had; the session stays as it was."""
    session = start_session("interview")
    session = resume_session(session, "Ada")
    session = resume_session(session, "ship it")
    assert session.status == SessionStatus.COMPLETED
    queue, refusal = QUEUED_BY_DOOR[door]
    run = queue(session)

    assert dispatch_overdue(older_than=30) == 1

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("not run: ") and refusal in run.error, run.error
    after = Session.objects.get(pk=session.pk)
    assert (after.status, after.output) == (SessionStatus.COMPLETED, session.output)
