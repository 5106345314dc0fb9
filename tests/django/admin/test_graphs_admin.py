"""The graphs pages: latest versions listed, a read-only page per version, reload from disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.django.admin.conftest import messages_of, url
from yamlgraph_django.models import GraphDefinition

pytestmark = pytest.mark.django_db


def edit_interview(graph_dir: Path) -> None:
    path = graph_dir / "interview.yaml"
    path.write_text(
        path.read_text().replace("Hi! What is your name?", "Hello! Who are you?"),
        encoding="utf-8",
    )


@pytest.mark.parametrize("who", ["admin_client", "viewer_client"])
def test_list_shows_latest_versions_with_session_counts(request, who, graphs, start):
    client = request.getfixturevalue(who)
    start("interview")
    start("interview")

    response = client.get(url("graphdefinition_changelist"))

    assert response.status_code == 200
    rows = {graph.name: graph for graph in response.context["cl"].result_list}
    assert set(rows) == {"interview", "approval", "support-router", "chat_assistant"}
    assert rows["interview"]._session_count == 2
    page = response.content.decode()
    assert graphs["interview"].description in page
    assert f"?graph__id__exact={graphs['interview'].pk}" in page  # count links to its sessions


def test_older_versions_stay_reachable(admin_client, graphs, graph_dir):
    edit_interview(graph_dir)
    admin_client.post(url("graphdefinition_reload"))
    v1 = graphs["interview"]
    v2 = GraphDefinition.objects.get(name="interview", is_latest=True)

    latest = admin_client.get(url("graphdefinition_changelist"))
    everything = admin_client.get(url("graphdefinition_changelist") + "?versions=all")

    assert [g.pk for g in latest.context["cl"].result_list if g.name == "interview"] == [v2.pk]
    assert {g.pk for g in everything.context["cl"].result_list if g.name == "interview"} == {
        v1.pk,
        v2.pk,
    }
    page = admin_client.get(url("graphdefinition_change", v2.pk)).content.decode()
    assert url("graphdefinition_change", v1.pk) in page  # "Versions: v2 (latest), v1"
    old_page = admin_client.get(url("graphdefinition_change", v1.pk))
    assert old_page.status_code == 200
    assert "Hi! What is your name?" in old_page.content.decode()


@pytest.mark.parametrize("who", ["admin_client", "viewer_client"])
def test_graph_page_shows_source_nodes_edges_and_mermaid(request, who, graphs):
    client = request.getfixturevalue(who)

    response = client.get(url("graphdefinition_change", graphs["approval"].pk))

    assert response.status_code == 200
    page = response.content.decode()
    assert "flowchart TD" in page  # the Mermaid text
    assert "assess -- &quot;state.risk == &#x27;low&#x27;&quot; --&gt; auto_approve" in page
    assert "ask_approver" in page and "interrupt" in page  # a node and its type
    assert "if state.risk == &#x27;low&#x27;" in page  # an edge's condition
    assert "function: assess_risk" in page  # the YAML source
    assert 'name="_save"' not in page  # read-only


def test_graph_page_offers_start_to_those_who_may(admin_client, viewer_client, graphs):
    start_link = url("session_start") + "?graph=interview"
    page = admin_client.get(url("graphdefinition_change", graphs["interview"].pk))
    assert start_link in page.content.decode()
    page = viewer_client.get(url("graphdefinition_change", graphs["interview"].pk))
    assert start_link not in page.content.decode()


def test_reload_reports_what_changed(admin_client, graphs, graph_dir, write_graph):
    edit_interview(graph_dir)
    write_graph(graph_dir, "extra.yaml", name="extra")
    (graph_dir / "broken.yaml").write_text("name: broken\nnodes: {a: {type: nope}}\n")

    response = admin_client.post(url("graphdefinition_reload"), follow=True)

    assert response.status_code == 200
    shown = "\n".join(messages_of(response))
    assert "added extra v1" in shown
    assert "updated interview: v1 -&gt; v2" in shown or "updated interview: v1 -> v2" in shown
    assert "broken.yaml" in shown  # the invalid file is named
    assert "1 added, 1 updated" in shown
    assert GraphDefinition.objects.get(name="interview", is_latest=True).version == 2


def test_reload_without_changes_says_so(admin_client, graphs):
    response = admin_client.post(url("graphdefinition_reload"), follow=True)
    assert any("No changes" in message for message in messages_of(response))


def test_reload_button_only_for_those_who_may(admin_client, viewer_client, graphs, graph_dir):
    reload_url = url("graphdefinition_reload")
    assert reload_url in admin_client.get(url("graphdefinition_changelist")).content.decode()
    assert reload_url not in viewer_client.get(url("graphdefinition_changelist")).content.decode()

    edit_interview(graph_dir)
    assert viewer_client.post(reload_url).status_code == 403
    assert admin_client.get(reload_url).status_code == 405  # a GET never changes anything
    assert GraphDefinition.objects.filter(name="interview").count() == 1


def test_reload_needs_csrf(admin_user, graphs):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(url("graphdefinition_reload")).status_code == 403


def test_graphs_cannot_be_added_edited_or_deleted(admin_client, graphs):
    pk = graphs["interview"].pk
    assert admin_client.get(url("graphdefinition_add")).status_code == 403
    assert admin_client.post(url("graphdefinition_change", pk), {"name": "x"}).status_code == 403
    assert admin_client.post(url("graphdefinition_delete", pk), {"post": "yes"}).status_code == 403
    assert GraphDefinition.objects.get(pk=pk).name == "interview"
