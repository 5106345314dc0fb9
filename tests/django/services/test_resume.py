"""resume_session and cancel_session: answering, retrying, versioning, and refusing."""

from __future__ import annotations

import textwrap

import pytest
from django.contrib.auth import get_user_model

from yamlgraph.errors import GraphValidationError
from yamlgraph_django import registry
from yamlgraph_django.exceptions import (
    CheckpointerUnavailable,
    InvalidInput,
    SessionBusy,
    SessionNotFound,
    SessionNotResumable,
    StaleQuestion,
)
from yamlgraph_django.models import RunKind, RunStatus, Session, SessionStatus
from yamlgraph_django.services import (
    cancel_session,
    get_state,
    resume_session,
    start_session,
    stores,
)

pytestmark = pytest.mark.django_db


def runs_of(session: Session) -> list[tuple[str, str, object]]:
    return [(r.kind, r.status, r.value) for r in session.runs.order_by("started_at", "id")]


def test_answers_lead_to_the_next_question_and_then_the_end(graphs):
    user = get_user_model().objects.create_user("ann")
    session = start_session("interview", {"topic": "Django"}, owner=user)

    resumed = resume_session(session, "Ada", actor=user, channel="admin")

    assert resumed is session  # the caller's instance is refreshed in place
    assert session.status == SessionStatus.INTERRUPTED
    assert [i["value"] for i in session.interrupts] == [
        "Thanks Ada. What do you want to achieve with Django?"
    ]

    resume_session(str(session.pk), "ship it")
    session.refresh_from_db()

    assert session.status == SessionStatus.COMPLETED
    assert session.output["summary"] == "Summary: Ada wants to ship it."
    assert session.interrupts == []
    assert session.finished_at is not None
    assert runs_of(session) == [
        (RunKind.START, RunStatus.SUCCEEDED, {"topic": "Django"}),
        (RunKind.RESUME, RunStatus.SUCCEEDED, "Ada"),
        (RunKind.RESUME, RunStatus.SUCCEEDED, "ship it"),
    ]
    first_resume = session.runs.filter(kind=RunKind.RESUME).first()
    assert (first_resume.actor, first_resume.channel) == (user, "admin")


def test_an_answer_among_the_choices_completes_the_session(graphs):
    session = start_session("approval", {"amount": 500, "requester": "Bob"})
    assert session.interrupts[0]["value"]["question"] == "Approve Bob's expense of 500?"

    resume_session(session, "yes")  # one of the question's choices

    assert session.status == SessionStatus.COMPLETED
    assert session.output["approved"] is True


def test_several_pending_questions_are_answered_by_id(graphs):
    session = start_session("pair")
    ids = {i["value"]: i["id"] for i in session.interrupts}
    assert set(ids) == {"First?", "Second?"}

    resume_session(session, values={ids["First?"]: "tea", ids["Second?"]: "cake"})

    assert session.status == SessionStatus.COMPLETED
    assert session.output["both"] == "tea and cake"
    assert session.runs.last().value == {ids["First?"]: "tea", ids["Second?"]: "cake"}


def test_answering_some_of_several_questions_leaves_the_rest_pending(graphs):
    session = start_session("pair")
    ids = {i["value"]: i["id"] for i in session.interrupts}

    resume_session(session, values={ids["First?"]: "tea"})

    assert session.status == SessionStatus.INTERRUPTED
    assert [i["value"] for i in session.interrupts] == ["Second?"]
    resume_session(session, "cake")
    assert session.output["both"] == "tea and cake"


def test_a_single_value_for_several_questions_is_refused(graphs):
    session = start_session("pair")

    with pytest.raises(InvalidInput) as caught:
        resume_session(session, "tea")

    assert "values={interrupt_id: value}" in caught.value.errors["value"]
    assert session.status == SessionStatus.INTERRUPTED
    assert runs_of(session) == [(RunKind.START, RunStatus.SUCCEEDED, {})]


def test_unknown_interrupt_ids_are_refused_and_named(graphs):
    session = start_session("pair")

    with pytest.raises(StaleQuestion) as caught:
        resume_session(session, values={"nope": 1})

    message = caught.value.detail
    assert "nope" in message
    assert all(i["id"] in message for i in session.interrupts)
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"values": {}}, {"values": ["x"]}, {"value": "x", "values": {"a": 1}}],
)
def test_a_resume_needs_exactly_one_kind_of_answer(graphs, kwargs):
    session = start_session("interview")

    with pytest.raises(InvalidInput):
        resume_session(session, **kwargs)

    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert session.runs.count() == 1


def test_an_answer_that_is_not_json_is_refused(graphs):
    session = start_session("interview")

    with pytest.raises(InvalidInput) as caught:
        resume_session(session, object())

    assert "Not JSON" in caught.value.errors["value"]
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED


def test_finished_and_cancelled_sessions_are_not_resumable(graphs):
    done = start_session("approval", {"amount": 1, "requester": "A"})
    with pytest.raises(SessionNotResumable) as caught:
        resume_session(done, "yes")
    assert caught.value.status_code == 409
    assert "completed" in caught.value.detail

    stopped = cancel_session(start_session("interview"))
    with pytest.raises(SessionNotResumable):
        resume_session(stopped, "Ada")


@pytest.mark.parametrize("status", [SessionStatus.RUNNING, SessionStatus.PENDING])
def test_a_session_someone_is_running_is_busy(graphs, status):
    session = start_session("interview")
    Session.objects.filter(pk=session.pk).update(status=status)

    with pytest.raises(SessionBusy) as caught:
        resume_session(session, "Ada")

    assert caught.value.code == "session_busy"
    session.refresh_from_db()
    assert session.status == status


def test_unknown_session(graphs):
    with pytest.raises(SessionNotFound):
        resume_session("00000000-0000-0000-0000-000000000000", "x")
    with pytest.raises(SessionNotFound):
        resume_session("not-a-uuid", "x")


def test_a_session_resumes_on_the_version_it_started_on(graphs, graph_dir):
    old = start_session("checked")
    (graph_dir / "checked.yaml").write_text(
        textwrap.dedent(
            """
            version: "2.0"
            name: checked
            state:
              answer: str
              result: str
            nodes:
              ask:
                type: interrupt
                message: "What is your NEW answer?"
                resume_key: answer
              check:
                type: passthrough
                output:
                  result: "v2 got {state.answer}"
            edges:
              - {from: START, to: ask}
              - {from: ask, to: check}
              - {from: check, to: END}
            """
        )
    )
    report = registry.sync_graphs()
    assert [e.describe().split(":")[0] for e in report.updated] == ["updated checked"]

    new = start_session("checked")
    resume_session(old, "yes")
    resume_session(new, "yes")

    assert (old.graph.version, old.output["result"]) == (1, "accepted yes")
    assert (new.graph.version, new.output["result"]) == (2, "v2 got yes")
    assert new.runs.first().session.graph.declared_version == "2.0"


def test_a_graph_error_on_resume_fails_the_session_but_keeps_it_resumable(graphs):
    session = start_session("checked")

    resume_session(session, "bad")

    assert session.status == SessionStatus.FAILED
    assert session.error == "ValueError: answer 'bad' is not allowed"
    assert [i["value"] for i in session.interrupts] == ["Your answer?"]  # can be re-answered
    assert get_state(session)["values"]["answer"] == "bad"  # checkpoints kept

    # Retrying as is replays the same answer: fails the same way, still resumable.
    resume_session(session)
    assert session.status == SessionStatus.FAILED
    assert session.error == "ValueError: answer 'bad' is not allowed"

    # A new answer replaces the one that made the graph fail.
    resume_session(session, "good")
    assert session.status == SessionStatus.COMPLETED
    assert session.error == ""
    assert session.output["result"] == "accepted good"
    assert runs_of(session) == [
        (RunKind.START, RunStatus.SUCCEEDED, {}),
        (RunKind.RESUME, RunStatus.FAILED, "bad"),
        (RunKind.RESUME, RunStatus.FAILED, None),
        (RunKind.RESUME, RunStatus.SUCCEEDED, "good"),
    ]
    failed = session.runs.filter(status=RunStatus.FAILED).first()
    assert "answer 'bad' is not allowed" in failed.error


def test_a_failed_start_is_retried_from_its_checkpoint(graphs, fail_flag):
    fail_flag.touch()
    session = start_session("flaky", {"count": 3})
    assert session.status == SessionStatus.FAILED

    with pytest.raises(InvalidInput):  # nothing asked, nothing to answer
        resume_session(session, "x")
    session.refresh_from_db()
    assert session.status == SessionStatus.FAILED

    fail_flag.unlink()
    resume_session(session)

    assert session.status == SessionStatus.COMPLETED
    assert session.output == {"count": 3, "result": "done"}
    assert session.error == ""


def test_an_unreachable_store_leaves_the_session_as_it_was(graphs, store_down):
    session = start_session("interview")

    with store_down, pytest.raises(CheckpointerUnavailable):
        resume_session(session, "Ada")

    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert session.lease_expires_at is None
    assert session.runs.count() == 1
    resume_session(session, "Ada")  # works once the store is back
    assert session.status == SessionStatus.INTERRUPTED
    assert "Ada" in session.interrupts[0]["value"]


# --------------------------------------------------------------------------- cancel


@pytest.mark.parametrize("graph", ["interview", "flaky"])
def test_cancel_stops_an_interrupted_or_failed_session(graphs, graph, fail_flag):
    fail_flag.touch()
    user = get_user_model().objects.create_user("ann")
    session = start_session(graph, owner=user)  # the rulebook: its owner may cancel it

    cancel_session(session, actor=user, channel="admin")

    assert session.status == SessionStatus.CANCELLED
    assert session.interrupts == []
    assert session.finished_at is not None
    run = session.runs.last()
    assert (run.kind, run.status, run.actor, run.channel) == (
        RunKind.CANCEL,
        RunStatus.SUCCEEDED,
        user,
        "admin",
    )


def test_cancel_refuses_finished_and_running_sessions(graphs):
    done = start_session("approval", {"amount": 1, "requester": "A"})
    with pytest.raises(SessionNotResumable):
        cancel_session(done)
    cancelled = cancel_session(start_session("interview"))
    with pytest.raises(SessionNotResumable):
        cancel_session(cancelled)

    running = start_session("interview")
    Session.objects.filter(pk=running.pk).update(status=SessionStatus.RUNNING)
    with pytest.raises(SessionBusy):
        cancel_session(running)


def test_an_answer_is_never_routed_to_a_question_nobody_was_shown(graphs):
    session = start_session("interview")
    first_question = session.interrupts
    resume_session(session, "Ada")
    # The row still shows the first question although the graph moved on (a run whose
    # outcome could not be recorded): the answer must not go to the second question.
    Session.objects.filter(pk=session.pk).update(interrupts=first_question)

    resume_session(session.pk, "Ada again")  # names the first question, no longer pending

    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert "What do you want to achieve" in session.interrupts[0]["value"]  # shown now
    resume_session(session, "win")
    assert (session.output["name"], session.output["goal"]) == ("Ada", "win")


def test_a_stored_version_that_no_longer_loads_leaves_the_session_alone(graphs, graph_dir):
    session = start_session("checked")
    (graph_dir / "tools" / "checks.py").unlink()
    registry.reset()
    stores.clear_caches()

    with pytest.raises(GraphValidationError) as caught:
        resume_session(session, "yes")

    assert "checks.py" in str(caught.value)  # for the operator's log
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert session.runs.count() == 1
