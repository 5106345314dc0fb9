"""The API and the admin act on the same sessions: a session started through the API can
be answered by the service call the admin's Resume button makes, and the reverse. The
audit trail records each answer's channel."""

from __future__ import annotations

import pytest

from yamlgraph_django.models import Session
from yamlgraph_django.services import resume_session, start_session

pytestmark = pytest.mark.django_db


def channels(session_id: str) -> list[tuple[str, str]]:
    return list(
        Session.objects.get(pk=session_id).runs.values_list("kind", "channel").order_by("id")
    )


def test_started_by_the_api_answered_in_the_admin(api, alice, start, make_user):
    session = start("interview", {"topic": "Django"})
    operator = make_user("operator", staff=True, perms=("resume_session",))

    resume_session(Session.objects.get(pk=session["id"]), "Ada", actor=operator, channel="admin")

    body = api.get(f"/api/sessions/{session['id']}/").json()
    assert body["status"] == "interrupted"
    assert body["values"]["name"] == "Ada"
    assert body["interrupts"][0]["value"].startswith("Thanks Ada")
    done = api.post(f"/api/sessions/{session['id']}/resume/", {"value": "ship"}, format="json")
    assert done.json()["status"] == "completed"
    assert channels(session["id"]) == [("start", "api"), ("resume", "admin"), ("resume", "api")]


def test_started_in_the_admin_answered_through_the_api(api, alice):
    session = start_session("interview", {"topic": "Django"}, owner=alice, channel="admin")

    listed = api.get("/api/sessions/").json()["results"]
    answered = api.post(f"/api/sessions/{session.pk}/resume/", {"value": "Ada"}, format="json")

    assert [row["id"] for row in listed] == [str(session.pk)]
    assert listed[0]["interrupts"][0]["value"] == "Hi! What is your name?"
    assert answered.status_code == 200
    assert answered.json()["values"]["name"] == "Ada"
    resume_session(session.pk, "ship", actor=alice, channel="admin")
    final = api.get(f"/api/sessions/{session.pk}/").json()
    assert final["status"] == "completed"
    assert final["values"]["summary"] == "Summary: Ada wants to ship."
    assert channels(str(session.pk)) == [("start", "admin"), ("resume", "api"), ("resume", "admin")]
