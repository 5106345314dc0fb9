"""Who may answer an assigned question, on every door: the API, /lg/ (by value and by
interrupt id), the admin's answer form and the management command.

The expense's question is assigned to `finance` and to the manager named in the state,
with `exclude_owner`: its requester (in finance) may not approve it; an outsider cannot
even see it; the override permission answers anything."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from tests.django.questions.conftest import api_client
from yamlgraph_django import services
from yamlgraph_django.models import Question, Session, SessionStatus
from yamlgraph_django.question_status import QuestionStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_question_is_a_row_with_its_assignees(expense: Session, people: dict[str, Any]):
    question = Question.objects.get(session=expense)

    assert question.status == QuestionStatus.OPEN
    assert question.node == "ask_approver"
    assert question.graph_name == "expense"
    assert question.text == "Approve requester's expense of 120.0?"
    assert question.interrupt_id == expense.interrupts[0]["id"]
    assert [g.name for g in question.groups.all()] == ["finance"]
    assert [u.username for u in question.users.all()] == ["manager"]  # templated
    assert question.assigned and question.exclude_owner
    assert [e.kind for e in question.events.all()] == ["assigned"]


def test_an_unassigned_question_is_a_row_anyone_allowed_today_answers(graphs, people):
    session = services.start_session("interview", {"topic": "rows"}, owner=people["outsider"])
    question = Question.objects.get(session=session)
    assert not question.assigned

    answered = api_client(people["outsider"]).post(
        f"/api/sessions/{session.pk}/resume/", {"value": "Ada"}, format="json"
    )

    assert answered.status_code == 200
    question.refresh_from_db()
    assert (question.status, question.answered_by) == (QuestionStatus.ANSWERED, people["outsider"])
    assert Question.objects.filter(session=session, status="open").count() == 1  # the next one


def answer_api(user: Any, session: Session, value: str = "yes") -> int:
    response = api_client(user).post(
        f"/api/sessions/{session.pk}/resume/", {"value": value}, format="json"
    )
    return response.status_code


def answer_lg(user: Any, session: Session, value: str = "yes", *, by_id: bool) -> int:
    resume: Any = {session.interrupts[0]["id"]: value} if by_id else value
    response = api_client(user).post(
        f"/lg/threads/{session.thread_id}/runs/wait",
        {"assistant_id": "expense", "command": {"resume": resume}},
        format="json",
    )
    return response.status_code


def answer_lg_value(user: Any, session: Session) -> int:
    return answer_lg(user, session, by_id=False)


def answer_lg_id(user: Any, session: Session) -> int:
    return answer_lg(user, session, by_id=True)


def answer_admin(user: Any, session: Session) -> int:
    """The admin's answer form, as staff (who may see every session under today's rules)."""
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    url = reverse("admin:yamlgraph_django_session_resume", args=[session.pk])
    page = client.get(url)
    if page.status_code != 200:
        return page.status_code
    ids = page.context["form"]["interrupt_ids"].value()
    response = client.post(url, {"interrupt_ids": ids, "answer_0": '"yes"'})
    return 200 if response.status_code == 302 else response.status_code


def answer_command(user: Any, session: Session) -> int:
    try:
        call_command(
            "yamlgraph", "resume", str(session.pk), "--value", "yes", "--user", user.username
        )
    except CommandError as exc:  # the service's error is the cause, with its status
        return exc.__cause__.status_code
    return 200


DOORS = {
    "api": answer_api,
    "lg-value": answer_lg_value,
    "lg-id": answer_lg_id,
    "admin": answer_admin,
    "command": answer_command,
}

#: who -> what each door answers them: 200 answered, 403 refused (they may see the
#: session, but not answer), 404 (they may not even see it). Staff see every session in
#: the admin, so an outsider there is refused, not blind; the command names no session
#: it refuses as missing.
WHO_MAY_ANSWER = {
    "member": {"api": 200, "lg-value": 200, "lg-id": 200, "admin": 200, "command": 200},
    "manager": {"api": 200, "lg-value": 200, "lg-id": 200, "admin": 200, "command": 200},
    "overrider": {"api": 200, "lg-value": 200, "lg-id": 200, "admin": 200, "command": 200},
    "requester": {"api": 403, "lg-value": 403, "lg-id": 403, "admin": 403, "command": 403},
    "outsider": {"api": 404, "lg-value": 404, "lg-id": 404, "admin": 403, "command": 404},
    "lead": {"api": 404, "lg-value": 404, "lg-id": 404, "admin": 403, "command": 404},
}


@pytest.mark.parametrize("door", list(DOORS))
@pytest.mark.parametrize("who", list(WHO_MAY_ANSWER))
def test_who_may_answer_on_every_door(
    door: str, who: str, expense: Session, people: dict[str, Any]
) -> None:
    expected = WHO_MAY_ANSWER[who][door]
    if door == "admin":
        # Staff in the admin answer with the resume permission; assignment still rules.
        people[who].user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="yamlgraph_django",
                codename__in=["resume_session", "view_session"],
            )
        )

    status = DOORS[door](people[who], expense)

    assert status == expected, f"{who} on {door}: {status}, expected {expected}"
    expense.refresh_from_db()
    question = Question.objects.get(session=expense)
    if expected == 200:
        assert expense.status == SessionStatus.COMPLETED
        assert (question.status, question.answered_by) == ("answered", people[who])
    else:
        assert expense.status == SessionStatus.INTERRUPTED
        assert (question.status, question.answered_by) == ("open", None)


def test_the_owner_cannot_write_the_state_past_an_assigned_question(expense, people):
    """update_state as the interrupt node would answer the question: refused to the
    excluded owner, as an answer is."""
    response = api_client(people["requester"]).post(
        f"/lg/threads/{expense.thread_id}/state",
        {"values": {"decision": "yes"}, "as_node": "ask_approver"},
        format="json",
    )

    assert response.status_code == 403
    expense.refresh_from_db()
    assert expense.status == SessionStatus.INTERRUPTED
    assert services.get_state(expense)["values"].get("decision") is None
