"""Who sees what: own sessions only, staff and `view_all_sessions` see all, strangers get
404 (never 403), and nobody gets in without credentials unless the project allows it."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from yamlgraph_django.models import Session, SessionStatus

pytestmark = pytest.mark.django_db


def test_two_users_cannot_see_or_touch_each_others_sessions(api, bob, client_for, start):
    mine = start("interview")
    as_bob = client_for(bob)
    theirs = start("interview", client=as_bob)
    url = f"/api/sessions/{mine['id']}/"

    assert [s["id"] for s in api.get("/api/sessions/").json()["results"]] == [mine["id"]]
    assert [s["id"] for s in as_bob.get("/api/sessions/").json()["results"]] == [theirs["id"]]
    for response in (
        as_bob.get(url),
        as_bob.get(url + "history/"),
        as_bob.post(url + "resume/", {"value": "Mallory"}, format="json"),
        as_bob.post(url + "cancel/"),
        as_bob.delete(url),
    ):
        assert response.status_code == 404, response.content
        assert response.json()["code"] == "not_found"

    session = Session.objects.get(pk=mine["id"])
    assert session.status == SessionStatus.INTERRUPTED
    assert session.runs.count() == 1  # bob's answer never ran


def test_someone_elses_session_looks_exactly_like_a_missing_one(api, bob, client_for, start):
    mine = start("interview")
    as_bob = client_for(bob)

    other = as_bob.get(f"/api/sessions/{mine['id']}/")
    missing = as_bob.get("/api/sessions/00000000-0000-0000-0000-000000000000/")

    assert (other.status_code, other.json()) == (missing.status_code, missing.json())


@pytest.mark.parametrize(
    ("staff", "perms"), [(True, ()), (False, ("view_all_sessions",))], ids=["staff", "perm"]
)
def test_staff_and_view_all_sessions_see_and_act_on_everyones(
    alice, bob, make_user, client_for, start, staff, perms
):
    first = start("interview")
    second = start("interview", client=client_for(bob))
    viewer = client_for(make_user("viewer", staff=staff, perms=perms))
    # Acting on someone else's session takes the admin's permission on every door.
    operator = client_for(make_user("operator", staff=staff, perms=(*perms, "resume_session")))

    listed = {s["id"] for s in operator.get("/api/sessions/").json()["results"]}
    refused = viewer.post(f"/api/sessions/{first['id']}/resume/", {"value": "Ada"}, format="json")
    answered = operator.post(
        f"/api/sessions/{first['id']}/resume/", {"value": "Ada"}, format="json"
    )

    assert listed == {first["id"], second["id"]}
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    assert answered.status_code == 200
    run = Session.objects.get(pk=first["id"]).runs.last()
    assert (run.actor.username, run.channel) == ("operator", "api")  # the audit trail says who


def test_without_credentials_the_api_is_401(graphs, start):
    session = start("interview")
    anonymous = APIClient()

    for response in (
        anonymous.get("/api/graphs/"),
        anonymous.get("/api/sessions/"),
        anonymous.get(f"/api/sessions/{session['id']}/"),
        anonymous.post("/api/sessions/", {"graph": "interview"}, format="json"),
    ):
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response["WWW-Authenticate"] == "Token"


def test_a_wrong_token_is_401(graphs):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = client.get("/api/sessions/")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_session_auth_needs_the_csrf_token_for_writes(alice, graphs):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(alice)

    assert browser.get("/api/sessions/").status_code == 200
    response = browser.post("/api/sessions/", {"graph": "interview"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert "CSRF" in response.json()["detail"]


def test_anonymous_access_when_the_project_allows_it(graphs, yamlgraph_settings, api, start):
    owned = start("interview")
    anonymous = APIClient()
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "ALLOW_ANONYMOUS": True}):
        created = anonymous.post("/api/sessions/", {"graph": "interview"}, format="json")
        session_id = created.json()["id"]
        read = anonymous.get(f"/api/sessions/{session_id}/")
        answered = anonymous.post(
            f"/api/sessions/{session_id}/resume/", {"value": "Anon"}, format="json"
        )
        listing = anonymous.get("/api/sessions/")
        someone_elses = anonymous.get(f"/api/sessions/{owned['id']}/")

    assert created.status_code == 201 and created.json()["owner"] is None
    assert read.status_code == 200  # the id is the key to an ownerless session
    assert answered.status_code == 200
    assert listing.json()["results"] == []  # but ownerless sessions are never listed
    assert someone_elses.status_code == 404
    # A signed-in user does not see ownerless sessions either (unless staff).
    assert session_id not in {s["id"] for s in api.get("/api/sessions/").json()["results"]}


def test_detail_routes_ignore_the_list_filters(api, start):
    """The list's query parameters (`?graph=`, `?metadata__k=`) filter the list only: a
    session's own URL answers it whatever they say (no filter backend runs there)."""
    session = start("interview", {"topic": "Django"})
    url = f"/api/sessions/{session['id']}/"

    assert api.get(url, {"graph": "approval"}).status_code == 200
    assert api.get(url, {"metadata__team": "nobody"}).status_code == 200
    assert api.get("/api/sessions/", {"graph": "approval"}).json()["results"] == []


def test_a_malformed_or_unknown_session_id_is_a_json_404(api):
    for url in ("/api/sessions/not-a-uuid/", f"/api/sessions/{'0' * 32}/resume/"):
        response = api.get(url) if url.endswith("/") and "resume" not in url else api.post(url)
        assert response.status_code == 404, response.content
        assert response.json()["code"] == "not_found"
