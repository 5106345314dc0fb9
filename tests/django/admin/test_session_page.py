"""The session page: state, interrupts, history, runs and errors, read-only, with buttons
shown only to those who may press them."""

from __future__ import annotations

import pytest

from tests.django.admin.conftest import url
from yamlgraph_django import services
from yamlgraph_django.models import Session, SessionStatus

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", ["admin_client", "viewer_client"])
def test_page_shows_state_interrupts_history_and_runs(request, who, start, admin_user):
    client = request.getfixturevalue(who)
    session = start("interview", {"topic": "Django"}, owner=admin_user)
    session = services.resume_session(session, "Ada", actor=admin_user, channel="admin")

    response = client.get(url("session_change", session.pk))

    assert response.status_code == 200
    page = response.content.decode()
    # current values as indented JSON
    assert "{\n  &quot;topic&quot;: &quot;Django&quot;," in page
    assert "&quot;name&quot;: &quot;Ada&quot;" in page
    # the pending question, in full
    assert "Thanks Ada. What do you want to achieve with Django?" in page
    # the checkpoint history: the node that wrote each checkpoint
    history = services.get_history(session, limit=50)
    assert history[0]["checkpoint_id"] in page
    assert "ask_name" in page and "ask_goal" in page
    # the runs: who did what, with what value, how it ended
    assert "Resume" in page and "Succeeded" in page and "Admin" in page
    assert "&quot;Ada&quot;" in page
    # read-only: no form fields to save
    assert 'name="_save"' not in page
    assert "<textarea" not in page


def test_failed_session_shows_its_error(admin_client, graphs, write_graph, graph_dir):
    from yamlgraph_django import registry

    write_graph(
        graph_dir,
        "broken_tool.yaml",
        text="""
        version: "1.0"
        name: explodes
        state: {result: str}
        tools:
          boom: {module: json, function: loads}
        nodes:
          work: {type: python, tool: boom}
        edges:
          - {from: START, to: work}
          - {from: work, to: END}
        """,
    )
    registry.sync_graphs()
    session = services.start_session("explodes")
    assert session.status == SessionStatus.FAILED

    page = admin_client.get(url("session_change", session.pk)).content.decode()

    assert "yamlgraph-status-failed" in page
    assert "Error" in page
    assert session.error.split(":")[0] in page
    # A failed session can be cancelled for good; there is no question to answer.
    assert buttons(page, session) == {"resume": False, "cancel": True, "delete": True}


def buttons(page: str, session: Session) -> dict[str, bool]:
    return {
        "resume": url("session_resume", session.pk) in page,
        "cancel": url("session_cancel", session.pk) in page,
        "delete": url("session_delete", session.pk) in page,
    }


def test_buttons_follow_permissions(admin_client, viewer_client, operator_client, start):
    session = start("interview")

    def shown(client) -> dict[str, bool]:
        return buttons(client.get(url("session_change", session.pk)).content.decode(), session)

    assert shown(admin_client) == {"resume": True, "cancel": True, "delete": True}
    assert shown(viewer_client) == {"resume": False, "cancel": False, "delete": False}
    assert shown(operator_client) == {"resume": False, "cancel": True, "delete": True}


def test_buttons_follow_status(admin_client, start):
    session = start("approval", {"amount": 5.0, "requester": "Amy"})
    assert session.status == SessionStatus.COMPLETED

    page = admin_client.get(url("session_change", session.pk)).content.decode()

    assert buttons(page, session) == {"resume": False, "cancel": False, "delete": True}


def test_view_only_staff_get_403_on_every_post(viewer_client, start, stored_threads):
    session = start("interview")
    posts = [
        (url("session_resume", session.pk), {"answer_0": "x"}),
        (url("session_cancel", session.pk), {}),
        (url("session_delete", session.pk), {"post": "yes"}),
        (url("session_change", session.pk), {}),
        (url("session_start"), {"graph": "interview", "input": "{}"}),
        (url("graphdefinition_reload"), {}),
    ]
    for path, data in posts:
        assert viewer_client.post(path, data).status_code == 403, path
    assert viewer_client.get(url("session_resume", session.pk)).status_code == 403
    assert viewer_client.get(url("session_start")).status_code == 403

    # The bulk actions are not offered, and posting one anyway changes nothing.
    listing = viewer_client.get(url("session_changelist"))
    assert "cancel_sessions" not in listing.content.decode()
    viewer_client.post(
        url("session_changelist"),
        {"action": "delete_with_checkpoints", "_selected_action": [session.pk], "post": "yes"},
    )
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert session.thread_id in stored_threads()
    assert session.runs.count() == 1


def test_generic_add_leads_to_start_page(admin_client, graphs):
    response = admin_client.get(url("session_add") + "?graph=approval")
    assert response.status_code == 302
    assert response["Location"] == url("session_start") + "?graph=approval"


def test_unknown_session_redirects_with_a_message(admin_client, graphs):
    missing = "00000000-0000-0000-0000-000000000000"
    response = admin_client.get(url("session_resume", missing), follow=True)
    assert response.status_code == 200
    assert "doesn’t exist" in response.content.decode()


@pytest.mark.parametrize("who", ["admin_client", "viewer_client"])
def test_admin_index_lists_graphs_and_sessions(request, who, graphs):
    client = request.getfixturevalue(who)
    for path in ("/admin/", "/admin/yamlgraph_django/"):
        response = client.get(path)
        assert response.status_code == 200
        page = response.content.decode()
        assert url("session_changelist") in page
        assert url("graphdefinition_changelist") in page
