"""The chat example through the DRF API: message dicts from any client as start input, a
plain question answered with text, the review question shown with its decisions and
answered in LangChain's HITL shape or agent-inbox's; bad answers are a 400 naming why."""

from __future__ import annotations

import pytest

from yamlgraph_django.models import Session, SessionStatus

pytestmark = pytest.mark.django_db

HELLO = {"messages": [{"type": "human", "content": "Hi, an e-mail please"}]}


def to_review(api, start) -> dict:
    body = start("chat_assistant", HELLO)
    (question,) = body["interrupts"]
    assert question["value"] == "What should the e-mail say?"
    assert question["response_schema"]["answer_from"] == "messages"
    resumed = api.post(
        f"/api/sessions/{body['id']}/resume/", {"value": "Lunch is at noon."}, format="json"
    )
    assert resumed.status_code == 200, resumed.json()
    return resumed.json()


def test_review_question_is_shown_and_approved(api, start):
    body = to_review(api, start)

    (review,) = body["interrupts"]
    assert review["response_schema"]["review"]["allowed"] == ["approve", "edit", "reject"]
    assert review["value"]["action_requests"][0]["args"]["body"] == "Lunch is at noon."
    messages = body["values"]["messages"]
    assert [m["type"] for m in messages] == ["human", "ai", "ai", "human"]
    assert messages[-1]["content"] == "Lunch is at noon."

    done = api.post(
        f"/api/sessions/{body['id']}/resume/",
        {"value": {"decisions": [{"type": "approve"}]}},
        format="json",
    ).json()
    assert done["status"] == "completed"
    assert done["values"]["decision"]["type"] == "approve"
    assert done["values"]["sent"]["to"] == "team@example.com"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"decisions": [{"type": "maybe"}]}, "unknown decision type 'maybe'"),
        ({"decisions": []}, "one decision expected"),
        ({"decisions": [{"type": "edit"}]}, "an edit needs 'edited_action'"),
        ("yes", "must be a decision"),
        ([{"type": "frobnicate", "args": None}], "unknown decision type 'frobnicate'"),
    ],
)
def test_a_bad_decision_is_a_400_and_changes_nothing(api, start, value, message):
    body = to_review(api, start)

    response = api.post(f"/api/sessions/{body['id']}/resume/", {"value": value}, format="json")

    assert response.status_code == 400, response.json()
    assert message in " ".join(response.json()["errors"]["value"])
    session = Session.objects.get(pk=body["id"])
    assert session.status == SessionStatus.INTERRUPTED and session.runs.count() == 2


def test_agent_inbox_answers(api, start):
    body = to_review(api, start)

    done = api.post(
        f"/api/sessions/{body['id']}/resume/",
        {"value": [{"type": "response", "args": "Please shorten it"}]},
        format="json",
    ).json()

    assert done["values"]["decision"]["type"] == "reject"
    assert done["values"]["decision"]["message"] == "Please shorten it"
    assert "sent" not in done["values"]


def test_ignore_does_not_answer_a_plain_question(api, start):
    body = start("chat_assistant", HELLO)

    ignored = api.post(
        f"/api/sessions/{body['id']}/resume/",
        {"value": [{"type": "ignore", "args": None}]},
        format="json",
    )
    assert ignored.status_code == 400
    assert "'ignore' does not answer this question" in " ".join(ignored.json()["errors"]["value"])

    answered = api.post(
        f"/api/sessions/{body['id']}/resume/",
        {"value": [{"type": "response", "args": "Lunch at one"}]},
        format="json",
    ).json()
    assert answered["values"]["topic"] == "Lunch at one"


@pytest.mark.parametrize(
    "messages",
    [42, [{"type": "human"}], [{"content": "no type"}], ["ok", 7]],
)
def test_bad_messages_input_is_a_400_naming_the_field(api, messages):
    response = api.post(
        "/api/sessions/",
        {"graph": "chat_assistant", "input": {"messages": messages}},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert response.json()["errors"]["input"]["messages"]
    assert not Session.objects.exists()
