"""A second request while a run holds the session: `multitask_strategy` on resume
(reject, enqueue, interrupt) and cancel of a running session, over HTTP.

The first run is started with `"stream": true`, so it executes on a thread of the
test process while the test sends the second request; the tests run in autocommit
(`transaction=True`) so both see each other's rows. Queued answers run on Django's
immediate backend, inside the request that queued them.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.django.api.conftest import SLOW_GRAPH, SLOW_TOOL
from tests.django.api.support import assert_error
from tests.django.api.test_stream import read_stream
from tests.django.concurrency import race
from tests.django.engine_support import STEPS_GRAPH, STEPS_TOOL, wait_for
from yamlgraph_django.models import Run, RunKind, RunStatus, Session
from yamlgraph_django.services import lifecycle
from yamlgraph_django.services.run_events import read_events

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def steps(graphs: Any, register_graphs: Any) -> None:
    """The API suite's graphs plus `steps` (four slow steps, then a question)."""
    register_graphs(SLOW_TOOL + STEPS_TOOL, {"slow.yaml": SLOW_GRAPH, **STEPS_GRAPH})


@pytest.fixture
def running(api: Any, steps: None) -> Any:
    """A `steps` session whose run is between its first and second step; yields
    (session id, the start's stream response, read it to wait for the run's end)."""
    response = api.post(
        "/api/sessions/", {"graph": "steps", "input": {}, "stream": True}, format="json"
    )
    session = Session.objects.get()
    wait_for(
        lambda: any(e.event == "updates" and "one" in e.data for e in read_events(session.pk)),
        what="the first step",
    )
    yield str(session.pk), response
    read_stream(response)  # never leave a run going on when the test's tables are flushed


def resume(api: Any, session_id: str, **body: Any) -> Any:
    return api.post(f"/api/sessions/{session_id}/resume/", body, format="json")


def runs(session_id: str) -> list[tuple[str, str]]:
    return list(
        Run.objects.filter(session_id=session_id).order_by("id").values_list("kind", "status")
    )


def test_reject_is_a_409_and_the_run_goes_on(api, running):
    session_id, response = running

    assert_error(resume(api, session_id, value="now"), 409, "session_busy")
    assert_error(
        resume(api, session_id, value="now", multitask_strategy="reject"), 409, "session_busy"
    )

    frames, _body = read_stream(response)
    assert frames[-1].data["status"] == "interrupted"
    assert runs(session_id) == [(RunKind.START, RunStatus.SUCCEEDED)]


def test_enqueue_is_a_202_and_the_answer_runs_after_the_current_run(api, running):
    session_id, _response = running

    answer = resume(api, session_id, value="later", multitask_strategy="enqueue")

    assert answer.status_code == 202, answer.json()
    # Queued, not waited for: the request answered while the first run still runs.
    assert runs(session_id) == [
        (RunKind.START, RunStatus.RUNNING),
        (RunKind.RESUME, RunStatus.QUEUED),
    ]
    session = wait_for(
        lambda: (
            (body := api.get(f"/api/sessions/{session_id}/").json())["status"] == "completed"
            and body
        ),
        what="the queued answer to run once the first run ended",
    )
    assert (session["values"]["steps"], session["values"]["answer"]) == (4, "later")
    assert runs(session_id) == [
        (RunKind.START, RunStatus.SUCCEEDED),
        (RunKind.RESUME, RunStatus.SUCCEEDED),
    ]


def test_two_enqueue_answers_at_once_are_both_queued_never_refused(api, steps):
    started = api.post("/api/sessions/", {"graph": "steps", "input": {}}, format="json")
    session_id = started.json()["id"]
    assert started.json()["status"] == "interrupted"

    answers = race(
        lambda: resume(api, session_id, value="first", multitask_strategy="enqueue"),
        lambda: resume(api, session_id, value="second", multitask_strategy="enqueue"),
    )

    bodies = [answer.json() for answer in answers]
    codes = sorted(answer.status_code for answer in answers)
    # The loser of the claim is queued (202), never refused as busy or stale; only if
    # the winner had already completed the session is the second one not resumable.
    assert codes in ([200, 202], [200, 409]), bodies
    if codes == [200, 409]:
        assert {b.get("code") for b in bodies} >= {"session_not_resumable"}, bodies
    session = wait_for(
        lambda: (
            not Run.objects.filter(
                session_id=session_id, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)
            ).exists()
            and Session.objects.get(pk=session_id)
        ),
        what="both answers to have run",
    )
    assert session.status == "completed"
    assert session.output["answer"] in ("first", "second")
    # Either answer may have won the claim (the queued one's row can be the older), so
    # the order of the rows says nothing: one answer ran, the other found it completed.
    resumes = Run.objects.filter(session_id=session_id, kind=RunKind.RESUME)
    outcomes = sorted((run.status, run.error) for run in resumes)
    assert outcomes[-1] == (RunStatus.SUCCEEDED, ""), outcomes
    assert all(
        status == RunStatus.FAILED and error.startswith("not run:") and "completed" in error
        for status, error in outcomes[:-1]
    ), outcomes


def test_interrupt_stops_the_run_at_its_next_step_and_runs_the_new_one(api, running):
    session_id, response = running

    answer = resume(api, session_id, multitask_strategy="interrupt")

    assert answer.status_code == 200, answer.json()
    assert answer.json()["status"] == "interrupted"
    assert answer.json()["values"]["steps"] == 4  # the first run's steps were kept
    frames, _body = read_stream(response)
    assert frames[-1].data["status"] == "failed"  # the start's run, stopped
    stopped = Run.objects.filter(session_id=session_id).order_by("id").first()
    assert (stopped.status, stopped.error) == (
        RunStatus.CANCELLED,
        "stopped at a step boundary for another run",
    )
    assert runs(session_id)[-1] == (RunKind.RESUME, RunStatus.SUCCEEDED)


def test_cancel_of_a_running_session_ends_it_cancelled_at_its_next_step(api, running):
    session_id, response = running

    cancelled = api.post(f"/api/sessions/{session_id}/cancel/")

    assert cancelled.status_code == 200, cancelled.json()
    assert cancelled.json()["status"] == "cancelled"
    assert 1 <= cancelled.json()["values"]["steps"] < 4  # checkpoints kept
    frames, _body = read_stream(response)
    assert frames[-1].data["status"] == "cancelled"
    assert runs(session_id) == [
        (RunKind.START, RunStatus.CANCELLED),
        (RunKind.CANCEL, RunStatus.SUCCEEDED),
    ]
    # The LangGraph protocol lists the same run as stopped on request, not as an error.
    thread_id = Session.objects.get(pk=session_id).thread_id
    listed = api.get(f"/lg/threads/{thread_id}/runs")
    assert [run["status"] for run in listed.json()] == ["interrupted"], listed.json()


def test_cancel_answers_202_while_the_stop_is_pending(api, running, monkeypatch):
    session_id, response = running
    monkeypatch.setattr(lifecycle, "CANCEL_WAIT_SECONDS", 0.0)  # answer before the step ends

    pending = api.post(f"/api/sessions/{session_id}/cancel/")

    assert pending.status_code == 202, pending.json()
    assert pending.json()["status"] == "running"
    read_stream(response)
    assert api.get(f"/api/sessions/{session_id}/").json()["status"] == "cancelled"
    assert_error(api.post(f"/api/sessions/{session_id}/cancel/"), 409, "session_not_resumable")
