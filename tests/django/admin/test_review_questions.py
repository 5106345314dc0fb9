"""Review questions in the admin: the answer form shows the action with Approve / Edit /
Reject buttons; Edit sends the edited arguments, Reject a message; bad JSON is refused
next to the arguments and changes nothing."""

from __future__ import annotations

import json

import pytest

from tests.django.admin.conftest import url
from yamlgraph_django import services
from yamlgraph_django.models import Session, SessionStatus

pytestmark = pytest.mark.django_db

HELLO = {"messages": [{"type": "human", "content": "Hi"}]}


@pytest.fixture
def waiting_review(start):
    session = start("chat_assistant", HELLO)
    return services.resume_session(session, "Lunch is at noon.")


def test_form_shows_the_action_and_its_buttons(admin_client, waiting_review):
    page = admin_client.get(url("session_resume", waiting_review.pk)).content.decode()

    assert "Send this e-mail to team@example.com?" in page
    for decision, label in (("approve", "Approve"), ("edit", "Edit"), ("reject", "Reject")):
        assert f'value="{decision}">{label}</button>' in page
    assert "Lunch is at noon." in page  # the arguments, ready to edit
    assert 'name="message_0"' in page


def test_edit_sends_the_edited_arguments(admin_client, waiting_review):
    args = {"to": "bo@example.com", "subject": "Lunch", "body": "At one."}

    response = admin_client.post(
        url("session_resume", waiting_review.pk),
        {
            "interrupt_ids": json.dumps([i["id"] for i in waiting_review.interrupts]),
            "answer_0": "edit",
            "args_0": json.dumps(args),
        },
    )

    assert response.status_code == 302
    session = Session.objects.get(pk=waiting_review.pk)
    assert session.status == SessionStatus.COMPLETED
    assert session.output["decision"] == {"type": "edit", "args": args, "message": None}
    assert session.output["sent"] == args


def test_reject_with_a_message(admin_client, waiting_review):
    admin_client.post(
        url("session_resume", waiting_review.pk),
        {
            "interrupt_ids": json.dumps([i["id"] for i in waiting_review.interrupts]),
            "answer_0": "reject",
            "message_0": "Not now",
        },
    )

    output = Session.objects.get(pk=waiting_review.pk).output
    assert output["decision"]["type"] == "reject" and output["decision"]["message"] == "Not now"
    assert output["messages"][-1]["content"] == "OK, I did not send it."


def test_bad_json_arguments_change_nothing(admin_client, waiting_review):
    response = admin_client.post(
        url("session_resume", waiting_review.pk),
        {
            "interrupt_ids": json.dumps([i["id"] for i in waiting_review.interrupts]),
            "answer_0": "edit",
            "args_0": "{not json",
        },
    )

    assert response.status_code == 200
    assert "Nothing was changed" in response.content.decode()
    session = Session.objects.get(pk=waiting_review.pk)
    assert session.status == SessionStatus.INTERRUPTED and session.runs.count() == 2
