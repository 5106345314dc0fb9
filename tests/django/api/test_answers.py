"""The API tells what answer each question takes (`response_schema`) and refuses, with a
400 naming the field, an answer or a start input that does not fit; nothing changes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from yamlgraph_django.models import Session, SessionStatus

pytestmark = pytest.mark.django_db


def test_each_interrupt_carries_its_response_schema(api, start):
    body = start("approval", {"amount": 500.0, "requester": "Bob"})

    (interrupt,) = body["interrupts"]
    assert interrupt["response_schema"] == {
        "type": "string",
        "required": True,
        "enum": ["yes", "no"],
    }
    again = api.get(f"/api/sessions/{body['id']}/").json()
    assert again["interrupts"][0]["response_schema"] == interrupt["response_schema"]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"value": "maybe"}, "value", "must be one of: yes, no"),
        ({"value": ""}, "value", "an answer is required"),
        ({"value": True}, "value", "must be text"),
    ],
)
def test_an_answer_that_does_not_fit_is_a_400_and_changes_nothing(
    api, alice, start, payload, field, message
):
    # The approval graph asks the finance group (issue 20); who may answer is decided
    # before what the answer is, so alice answers as one of them.
    Group.objects.create(name="finance").user_set.add(alice)
    body = start("approval", {"amount": 500.0, "requester": "Bob"})

    response = api.post(f"/api/sessions/{body['id']}/resume/", payload, format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid_input"
    assert message in " ".join(response.json()["errors"][field])
    session = Session.objects.get(pk=body["id"])
    assert session.status == SessionStatus.INTERRUPTED
    assert session.runs.count() == 1


def test_answers_by_id_are_checked_one_by_one(api, alice, start):
    # The approval graph asks the finance group (issue 20): alice answers as one of them.
    Group.objects.create(name="finance").user_set.add(alice)
    body = start("approval", {"amount": 500.0, "requester": "Bob"})
    interrupt_id = body["interrupts"][0]["id"]

    response = api.post(
        f"/api/sessions/{body['id']}/resume/", {"values": {interrupt_id: "perhaps"}}, format="json"
    )

    assert response.status_code == 400
    assert "must be one of: yes, no" in response.json()["detail"]
    assert interrupt_id in str(response.json()["errors"]["values"])
    ok = api.post(
        f"/api/sessions/{body['id']}/resume/", {"values": {interrupt_id: "yes"}}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["status"] == "completed"


def test_a_start_without_the_required_fields_is_a_400_naming_them(api):
    response = api.post("/api/sessions/", {"graph": "approval", "input": {}}, format="json")

    assert response.status_code == 400, response.json()
    shown = str(response.json()["errors"]["input"])  # the API nests state fields in input
    assert "amount" in shown and "requester" in shown and "required" in shown
    assert not Session.objects.exists()


def test_an_empty_answer_to_the_interview_is_refused(api, start):
    body = start("interview")

    response = api.post(f"/api/sessions/{body['id']}/resume/", {"value": "  "}, format="json")

    assert response.status_code == 400
    assert "an answer is required" in " ".join(response.json()["errors"]["value"])
