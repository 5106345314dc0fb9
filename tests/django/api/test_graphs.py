"""GET /api/graphs/ and /api/graphs/{name}/: what a client needs to start a session."""

from __future__ import annotations

import pytest
from django.test import override_settings

from yamlgraph_django import registry
from yamlgraph_django.services import stores

pytestmark = pytest.mark.django_db


def test_list_shows_the_latest_version_of_each_graph(api, graph_dir):
    interview = graph_dir / "interview.yaml"
    interview.write_text(interview.read_text().replace("two questions", "2 questions"))
    registry.sync_graphs()

    graphs = api.get("/api/graphs/").json()

    assert [g["name"] for g in graphs] == [
        "approval",
        "chat_assistant",
        "checked",
        "interview",
        "pair",
        "slow",
        "support-router",
    ]
    by_name = {g["name"]: g for g in graphs}
    assert by_name["interview"]["version"] == 2
    assert "2 questions" in by_name["interview"]["description"]


def test_detail_describes_inputs_nodes_edges_and_storage(api):
    response = api.get("/api/graphs/approval/")

    assert response.status_code == 200
    graph = response.json()
    assert (graph["name"], graph["version"]) == ("approval", 1)
    assert graph["description"].startswith("An expense approval")
    fields = {f["name"]: f for f in graph["state_fields"]}
    assert fields["amount"]["type"] == "float" and fields["amount"]["declared"] is True
    assert fields["approval_request"]["declared"] is False  # written by a node
    assert not any(name.startswith("_") for name in fields)
    nodes = {n["name"]: n["type"] for n in graph["nodes"]}
    assert nodes["ask_approver"] == "interrupt" and nodes["assess"] == "python"
    assert {
        "from": ["assess"],
        "to": ["auto_approve"],
        "condition": "state.risk == 'low'",
        "conditional": False,
    } in graph["edges"]
    assert graph["mermaid"].startswith("flowchart TD")
    assert graph["checkpointer"] == "sqlite"


def test_detail_shows_only_the_checkpointer_type_never_its_url(api, yamlgraph_settings):
    secret = {"type": "redis", "url": "redis://:s3cret@cache.internal:6379/0"}
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "CHECKPOINTER_OVERRIDE": secret}):
        response = api.get("/api/graphs/interview/")

    assert response.json()["checkpointer"] == "redis"
    assert "s3cret" not in response.content.decode()


def test_a_graph_name_with_a_dash_resolves(api):
    assert api.get("/api/graphs/support-router/").json()["name"] == "support-router"


def test_unknown_graph_is_404_listing_the_known_ones(api):
    response = api.get("/api/graphs/intervew/")

    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "graph_not_found"
    assert "intervew" in body["detail"] and "interview, pair, slow" in body["detail"]


def test_a_graph_broken_on_disk_is_a_clear_server_error(api, graph_dir):
    # The stored `checked` graph imports tools/checks.py, which an operator deleted.
    (graph_dir / "tools" / "checks.py").unlink()
    registry.reset()
    stores.clear_caches()

    detail = api.get("/api/graphs/checked/")
    started = api.post("/api/sessions/", {"graph": "checked"}, format="json")

    for response in (detail, started):
        assert response.status_code == 500
        assert response.json()["code"] == "graph_invalid"
        assert "checks.py" not in response.content.decode()  # paths stay in the server log
    assert api.get("/api/graphs/interview/").status_code == 200  # the others still work
