"""The API and `/lg/` run sessions on one engine: what one door leaves, the other reads
and goes on from in the same way (the rows a run writes do not depend on the door)."""

from __future__ import annotations

import pytest

from yamlgraph_django.models import Session

pytestmark = pytest.mark.django_db


def lg_wait(api, thread_id: str, **body):
    return api.post(
        f"/lg/threads/{thread_id}/runs/wait", {"assistant_id": "checked", **body}, format="json"
    )


def test_a_run_failed_on_the_protocol_leaves_its_question_answerable_on_the_api(api):
    thread_id = api.post("/lg/threads", {}, format="json").json()["thread_id"]
    asked = lg_wait(api, thread_id, input={})
    assert asked.json()["__interrupt__"][0]["value"] == "Your answer?"
    question = Session.objects.get(thread_id=thread_id).interrupts
    assert "response_schema" in question[0]  # stored as the API engine stores it

    failed = lg_wait(api, thread_id, command={"resume": "bad"})
    assert failed.json()["__error__"]["error"] == "ValueError"

    row = Session.objects.get(thread_id=thread_id)
    assert row.status == "failed" and row.error == "ValueError: answer 'bad' is not allowed"
    assert [i["value"] for i in row.interrupts] == ["Your answer?"]  # still answerable
    shown = api.get(f"/api/sessions/{row.pk}/").json()
    assert shown["status"] == "failed" and shown["interrupts"][0]["value"] == "Your answer?"

    answered = api.post(f"/api/sessions/{row.pk}/resume/", {"value": "good"}, format="json")
    assert answered.status_code == 200, answered.json()
    assert answered.json()["status"] == "completed"
    assert answered.json()["values"]["result"] == "accepted good"


def test_a_session_started_on_the_api_is_answered_on_the_protocol(api, start):
    session = start("checked")
    thread_id = session["thread_id"]

    done = lg_wait(api, thread_id, command={"resume": "fine"})

    assert done.status_code == 200, done.content
    assert done.json()["result"] == "accepted fine"
    shown = api.get(f"/api/sessions/{session['id']}/").json()
    assert (shown["status"], shown["values"]["result"]) == ("completed", "accepted fine")
    assert [r["status"] for r in api.get(f"/lg/threads/{thread_id}/runs").json()] == [
        "success",
        "success",
    ]
