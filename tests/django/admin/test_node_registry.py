"""A project's own node type (tests/node_types/shout.py), listed in YAMLGRAPH["NODE_TYPES"],
is registered when the app starts, validates with the registry, runs through the session
service and is drawn in the admin's picture (its colours, its legend entry) and Mermaid."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.test import override_settings

from tests.django.admin.conftest import url
from yamlgraph.node_types import get_node_type, unregister_node_type
from yamlgraph_django import registry, services
from yamlgraph_django.admin.diagram import graph_svg, legend
from yamlgraph_django.apps import load_node_types

pytestmark = pytest.mark.django_db

MODULE = "tests.node_types.shout"
GRAPH = """\
name: shouting
description: A graph with a node type of the project's own.
state:
  name: {type: str, required: true}
nodes:
  greet:
    type: shout
    text: "hello {state.name}"
    times: 2
    state_key: loud
  ask:
    type: interrupt
    message: "{state.loud} Again?"
    choices: ["yes", "no"]
edges:
  - {from: START, to: greet}
  - {from: greet, to: ask}
  - {from: ask, to: END}
"""


@pytest.fixture
def shout_from_settings(yamlgraph_settings: dict, graph_dir: Path):
    """NODE_TYPES names the module; the app's start-up import registers the type."""
    sys.modules.pop(MODULE, None)
    unregister_node_type("shout")
    (graph_dir / "shouting.yaml").write_text(GRAPH, encoding="utf-8")
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "NODE_TYPES": [MODULE]}):
        assert load_node_types() == [MODULE]
        yield
    unregister_node_type("shout")
    sys.modules.pop(MODULE, None)


def test_setting_registers_type_and_graph_runs(shout_from_settings):
    assert get_node_type("shout") is not None
    report = registry.sync_graphs()
    assert report.ok, str(report)

    session = services.start_session("shouting", {"name": "ada"})

    state = services.get_state(session)
    assert state["values"]["loud"] == "HELLO ADA!!"
    assert state["interrupts"][0]["value"] == "HELLO ADA!! Again?"
    assert state["interrupts"][0]["response_schema"]["enum"] == ["yes", "no"]


def test_admin_draws_the_type_in_its_colours(shout_from_settings, admin_client):
    definitions = registry.sync_graphs().definitions
    config = registry.config_for(definitions["shouting"])

    picture = str(graph_svg(config, ["greet"], state="running"))
    assert 'data-node="greet" data-type="shout"' in picture
    assert 'fill="#fee2e2" stroke="#b91c1c"' in picture  # the type's own colours
    assert "node node-shout current running" in picture
    assert "#b91c1c" in str(legend()) and "shout</span>" in str(legend())

    page = admin_client.get(url("graphdefinition_change", definitions["shouting"].pk))
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-type="shout"' in text
    assert "greet&gt;&quot;greet&lt;br/&gt;&lt;i&gt;shout&lt;/i&gt;&quot;]" in text  # Mermaid
