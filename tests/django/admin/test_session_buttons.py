"""The session page's buttons and the Start session page, pressed as a person would."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils import timezone

from tests.django.admin.conftest import messages_of, url
from yamlgraph_django.models import Run, RunChannel, RunKind, Session, SessionStatus

pytestmark = pytest.mark.django_db


def resume_form(client: Client, session: Session) -> dict[str, Any]:
    """The form's initial data, as the browser would send it back."""
    response = client.get(url("session_resume", session.pk))
    assert response.status_code == 200
    form = response.context["form"]
    return {"interrupt_ids": form["interrupt_ids"].value()}


def answer(client: Client, session: Session, text: str, **extra: Any) -> Any:
    data = {**resume_form(client, session), "answer_0": text, **extra}
    return client.post(url("session_resume", session.pk), data, follow=True)


# -- resume ------------------------------------------------------------------------------


def test_resume_through_the_form_completes_the_interview(admin_client, admin_user, start):
    session = start("interview", {"topic": "Django"})
    form_page = admin_client.get(url("session_resume", session.pk)).content.decode()
    assert "Hi! What is your name?" in form_page

    first = answer(admin_client, session, "Ada")
    assert first.redirect_chain[-1][0] == url("session_change", session.pk)
    assert any("Thanks Ada" in m for m in messages_of(first))
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED

    second = answer(admin_client, session, "ship the admin")
    assert any("completed" in m for m in messages_of(second))

    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED
    assert session.output["name"] == "Ada"
    assert session.output["goal"] == "ship the admin"
    resumes = list(session.runs.filter(kind=RunKind.RESUME).order_by("started_at", "pk"))
    assert [run.actor for run in resumes] == [admin_user, admin_user]
    assert {run.channel for run in resumes} == {RunChannel.ADMIN}
    assert [list(run.value.values()) for run in resumes] == [["Ada"], ["ship the admin"]]
    assert LogEntry.objects.filter(object_id=str(session.pk)).count() == 2


def test_json_answer_when_ticked_text_otherwise(admin_client, start):
    """The interview's questions take any JSON value (`response: {required: true}`)."""
    session = start("interview")

    answer(admin_client, session, '{"first": "Ada"}', as_json_0="on")

    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    run = session.runs.get(kind=RunKind.RESUME)
    assert list(run.value.values()) == [{"first": "Ada"}]

    other = start("interview")
    answer(admin_client, other, "true")  # not ticked: the text "true"
    assert list(other.runs.get(kind=RunKind.RESUME).value.values()) == ["true"]


def test_bad_json_is_a_form_error_and_nothing_changes(admin_client, start):
    session = start("interview")

    response = answer(admin_client, session, "{yes", as_json_0="on")

    assert response.status_code == 200
    assert response.redirect_chain == []
    assert "not valid JSON" in response.content.decode()
    assert response.context["form"].errors["answer_0"]
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert session.runs.count() == 1


def test_empty_answer_is_a_form_error(admin_client, start):
    session = start("interview")
    response = answer(admin_client, session, "")
    assert response.context["form"].errors["answer_0"]
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED


def test_resume_of_a_finished_session_is_a_message(admin_client, start):
    session = start("approval", {"amount": 5.0, "requester": "Amy"})
    assert session.status == SessionStatus.COMPLETED

    for response in (
        admin_client.get(url("session_resume", session.pk), follow=True),
        admin_client.post(url("session_resume", session.pk), {"answer_0": "x"}, follow=True),
    ):
        assert response.status_code == 200
        assert response.redirect_chain[-1][0] == url("session_change", session.pk)
        assert any("not waiting for an answer" in m for m in messages_of(response))
    assert Session.objects.get(pk=session.pk).runs.count() == 1


def test_resume_after_someone_else_answered_is_a_message(admin_client, start):
    """The form was opened, someone answered elsewhere, then this form is submitted."""
    from yamlgraph_django import services

    session = start("interview")
    stale = resume_form(admin_client, session)
    services.resume_session(session, "Bob", channel="api")

    response = admin_client.post(
        url("session_resume", session.pk), {**stale, "answer_0": "Ada"}, follow=True
    )

    assert response.status_code == 200
    assert any("moved on" in m for m in messages_of(response))
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert "Thanks Bob" in session.interrupts[0]["value"]  # our late answer was not applied


def test_resume_of_a_busy_session_is_a_message(admin_client, start):
    """Another request holds the session (status running under a live lease)."""
    session = start("interview")
    form = resume_form(admin_client, session)
    lease = timezone.now() + dt.timedelta(minutes=5)
    Session.objects.filter(pk=session.pk).update(
        status=SessionStatus.RUNNING, lease_expires_at=lease
    )

    response = admin_client.post(
        url("session_resume", session.pk), {**form, "answer_0": "Ada"}, follow=True
    )

    assert response.status_code == 200
    assert any("running right now" in m for m in messages_of(response))
    assert Session.objects.get(pk=session.pk).runs.count() == 1


def test_resume_needs_the_resume_permission(operator_client, start):
    session = start("interview")
    assert operator_client.get(url("session_resume", session.pk)).status_code == 403
    response = operator_client.post(url("session_resume", session.pk), {"answer_0": "Ada"})
    assert response.status_code == 403
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED


def test_resume_needs_csrf(admin_user, start):
    session = start("interview")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(url("session_resume", session.pk), {"answer_0": "Ada"}).status_code == 403


# -- cancel --------------------------------------------------------------------------------


def test_cancel(admin_client, admin_user, start):
    session = start("interview")

    response = admin_client.post(url("session_cancel", session.pk), follow=True)

    assert response.redirect_chain[-1][0] == url("session_change", session.pk)
    assert "The session was cancelled." in messages_of(response)
    session.refresh_from_db()
    assert session.status == SessionStatus.CANCELLED
    run = session.runs.get(kind=RunKind.CANCEL)
    assert run.actor == admin_user and run.channel == RunChannel.ADMIN


def test_cancel_of_a_finished_session_is_a_message(admin_client, start):
    session = start("approval", {"amount": 5.0, "requester": "Amy"})
    response = admin_client.post(url("session_cancel", session.pk), follow=True)
    assert response.status_code == 200
    assert any("not cancelled" in m and "completed" in m for m in messages_of(response))
    assert Session.objects.get(pk=session.pk).status == SessionStatus.COMPLETED


def test_cancel_of_a_running_session_is_a_message(admin_client, start):
    session = start("interview")
    Session.objects.filter(pk=session.pk).update(
        status=SessionStatus.RUNNING, lease_expires_at=timezone.now() + dt.timedelta(minutes=5)
    )
    response = admin_client.post(url("session_cancel", session.pk), follow=True)
    assert response.status_code == 200
    assert any("not cancelled" in m and "running" in m for m in messages_of(response))
    assert Session.objects.get(pk=session.pk).status == SessionStatus.RUNNING


def test_cancel_asks_for_confirmation_first(admin_client, start):
    session = start("interview")
    page = admin_client.get(url("session_change", session.pk)).content.decode()
    assert f'href="{url("session_cancel", session.pk)}"' in page  # a link to the question

    confirm = admin_client.get(url("session_cancel", session.pk))

    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert "Cancel this session? It stops for good" in text
    assert "Hi! What is your name?" in text  # what it is waiting for
    assert "Yes, cancel it" in text and "No, take me back" in text
    assert Session.objects.get(pk=session.pk).status == SessionStatus.INTERRUPTED

    admin_client.post(url("session_cancel", session.pk))
    assert Session.objects.get(pk=session.pk).status == SessionStatus.CANCELLED


# -- delete with checkpoints ---------------------------------------------------------------


def test_delete_with_checkpoints(admin_client, start, stored_threads):
    session = start("interview")
    keep = start("interview")
    assert {session.thread_id, keep.thread_id} <= stored_threads()

    confirm = admin_client.get(url("session_delete", session.pk))
    assert confirm.status_code == 200
    assert "also deletes its checkpoints" in confirm.content.decode()
    assert Session.objects.filter(pk=session.pk).exists()  # asking changed nothing

    response = admin_client.post(url("session_delete", session.pk), {"post": "yes"}, follow=True)

    assert response.redirect_chain[-1][0] == url("session_changelist")
    assert any("and its checkpoints were deleted" in m for m in messages_of(response))
    assert not Session.objects.filter(pk=session.pk).exists()
    assert not Run.objects.filter(session_id=session.pk).exists()
    threads = stored_threads()
    assert session.thread_id not in threads  # gone from the real SQLite store
    assert keep.thread_id in threads


def test_delete_of_a_running_session_is_a_message(admin_client, start, stored_threads):
    session = start("interview")
    Session.objects.filter(pk=session.pk).update(
        status=SessionStatus.RUNNING, lease_expires_at=timezone.now() + dt.timedelta(minutes=5)
    )

    response = admin_client.post(url("session_delete", session.pk), {"post": "yes"}, follow=True)

    assert response.status_code == 200
    assert any("not deleted" in m and "running" in m for m in messages_of(response))
    assert Session.objects.filter(pk=session.pk).exists()
    assert session.thread_id in stored_threads()
    assert not LogEntry.objects.filter(object_id=str(session.pk)).exists()


# -- start session ---------------------------------------------------------------------------


def test_start_session_lands_on_the_new_session(admin_client, admin_user, graphs):
    choose = admin_client.get(url("session_start")).content.decode()
    for name in ("interview", "approval", "support-router"):
        assert f'href="{url("session_start")}?graph={name}"' in choose
    page = admin_client.get(url("session_start") + "?graph=interview")
    assert page.status_code == 200
    assert page.context["form"]["graph"].value() == "interview"

    response = admin_client.post(
        url("session_start"),
        {
            "graph": "interview",
            "input": '{"topic": "the admin"}',
            "metadata": '{"ticket": "T-1"}',
            "thread_id": "",
        },
        follow=True,
    )

    session = Session.objects.get()
    assert response.redirect_chain[-1][0] == url("session_change", session.pk)
    assert any("Hi! What is your name?" in m for m in messages_of(response))
    assert session.status == SessionStatus.INTERRUPTED
    assert session.owner == admin_user
    assert session.input == {"topic": "the admin"}
    assert session.metadata == {"ticket": "T-1"}
    run = session.runs.get()
    assert run.kind == RunKind.START and run.actor == admin_user
    assert run.channel == RunChannel.ADMIN


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"input": '{"topic": '}, "input", "not valid JSON"),
        ({"input": "[1, 2]"}, "input", "must be a JSON object"),
        ({"input": '{"topc": "x"}'}, "input", "topc: unknown field"),
        ({"input": '{"topic": 3}'}, "state_topic", "expected a string"),
        ({"metadata": "{bad"}, "metadata", "not valid JSON"),
        ({"metadata": '{"nested": {"a": 1}}'}, "metadata", "flat object"),
        ({"graph": "nope"}, "graph", "Select a valid choice"),
    ],
)
def test_bad_start_input_is_a_form_error(admin_client, graphs, data, field, text):
    form = {"graph": "interview", "input": "{}", "metadata": "{}", "thread_id": "", **data}

    response = admin_client.post(url("session_start"), form)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert text in " ".join(errors[field]), errors
    assert not Session.objects.exists()


def test_start_with_a_taken_thread_id_is_a_form_error(admin_client, start):
    start("interview", thread_id="shared")
    form = {"graph": "interview", "input": "{}", "metadata": "", "thread_id": "shared"}

    response = admin_client.post(url("session_start"), form)

    assert "exists" in " ".join(response.context["form"].errors["thread_id"])
    assert Session.objects.count() == 1


def test_start_needs_the_add_permission(operator_client, graphs):
    assert operator_client.get(url("session_start")).status_code == 403
    form = {"graph": "interview", "input": "{}"}
    assert operator_client.post(url("session_start"), form).status_code == 403
    assert not Session.objects.exists()


def test_start_page_without_graphs_explains(admin_client, db, yamlgraph_settings, graph_dir):
    for path in graph_dir.glob("*.yaml"):
        path.unlink()
    page = admin_client.get(url("session_start")).content.decode()
    assert "No graph is registered yet" in page


def test_start_of_an_approval_shows_the_dict_question(admin_client, graphs):
    admin_client.post(
        url("session_start"),
        {"graph": "approval", "state_amount": "900", "state_requester": "Zoe", "input": ""},
    )
    session = Session.objects.get()
    form_page = admin_client.get(url("session_resume", session.pk)).content.decode()
    assert "Approve Zoe&#x27;s expense of 900.0?" in form_page
    assert "risk: high" in form_page  # the payload's other facts, as text
    assert "&quot;question&quot;" not in form_page  # no JSON of the payload
    assert "&quot;risk&quot;" not in form_page
    for choice in ("yes", "no"):  # each choice a button that answers
        assert f'name="answer_0" value="&quot;{choice}&quot;">{choice}</button>' in form_page


PAIR = """
version: "1.0"
name: pair
description: Two questions asked at once.
state: {first: str, second: str, both: str}
nodes:
  ask_first: {type: interrupt, message: "First?", state_key: q1, resume_key: first}
  ask_second: {type: interrupt, message: "Second?", state_key: q2, resume_key: second}
  join: {type: passthrough, output: {both: "{state.first} and {state.second}"}}
edges:
  - {from: START, to: [ask_first, ask_second]}
  - {from: [ask_first, ask_second], to: join}
  - {from: join, to: END}
"""


def test_one_field_per_pending_interrupt(admin_client, graphs, graph_dir, write_graph):
    from yamlgraph_django import registry, services

    write_graph(graph_dir, "pair.yaml", text=PAIR)
    registry.sync_graphs()
    session = services.start_session("pair")
    assert len(session.interrupts) == 2

    page = admin_client.get(url("session_resume", session.pk))
    form = page.context["form"]
    assert {form["answer_0"].label, form["answer_1"].label} == {"First?", "Second?"}
    labels = {form["answer_0"].label: "answer_0", form["answer_1"].label: "answer_1"}

    response = admin_client.post(
        url("session_resume", session.pk),
        {
            "interrupt_ids": form["interrupt_ids"].value(),
            labels["First?"]: "tea",
            labels["Second?"]: "[1, 2]",
            labels["Second?"].replace("answer", "as_json"): "on",
        },
        follow=True,
    )

    assert any("completed" in m for m in messages_of(response))
    session.refresh_from_db()
    assert session.output["first"] == "tea"
    assert session.output["second"] == [1, 2]
