"""A node type of a project's own, registered from one module (tests/node_types/shout.py),
is validated with lines, compiled, run (alone and in a map) and drawn like the built-ins."""

from __future__ import annotations

import importlib

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from tests.yamlgraph.conftest import write
from yamlgraph.errors import GraphValidationError
from yamlgraph.graph_loader import compile_graph, load_graph_config
from yamlgraph.mermaid import to_mermaid
from yamlgraph.node_types import get_node_type, node_types

GRAPH = """\
name: shouting
state:
  name: str
  names: list
nodes:
  greet:
    type: shout
    text: "hello {state.name}"
    times: 2
    state_key: loud
  each:
    type: map
    over: "{state.names}"
    as: who
    node: {type: shout, text: "hi {who}"}
    collect: all_loud
edges:
  - {from: START, to: greet}
  - {from: greet, to: each}
  - {from: each, to: END}
"""


@pytest.fixture
def shout_registered():
    """The module registers its type when imported (as a project's module would); it is
    imported here, not at the top, so no other test sees the type."""
    module = importlib.import_module("tests.node_types.shout")
    module.register()  # again, in case an earlier test took it away
    yield module
    module.unregister()


def test_registered_type_compiles_and_runs(tmp_path, shout_registered):
    config = load_graph_config(write(tmp_path, "graph.yaml", GRAPH))
    app = compile_graph(config).compile(checkpointer=InMemorySaver())

    result = app.invoke(
        {"name": "ada", "names": ["bo", "cy"]}, {"configurable": {"thread_id": "t"}}
    )

    assert result["loud"] == "HELLO ADA!!"
    assert result["all_loud"] == ["HI BO!", "HI CY!"]
    assert "loud" in config.state and not config.state["loud"].declared  # written keys


def test_registered_type_is_validated_with_lines(tmp_path, shout_registered):
    bad = GRAPH.replace("times: 2", "times: 0\n    volume: 11").replace(
        'text: "hi {who}"', "times: many"
    )
    with pytest.raises(GraphValidationError) as caught:
        load_graph_config(write(tmp_path, "graph.yaml", bad))

    found = {(issue.path, issue.line): issue.message for issue in caught.value.issues}
    assert found[("nodes.greet.times", 9)] == "must be a whole number >= 1"
    assert found[("nodes.greet.volume", 10)].startswith("unknown shout node key 'volume'")
    assert found[("nodes.each.node", 16)] == "a shout node needs 'text' (a template)"
    assert found[("nodes.each.node.times", 16)] == "must be a whole number >= 1"


def test_registered_type_is_drawn_in_its_shape(tmp_path, shout_registered):
    chart = to_mermaid(load_graph_config(write(tmp_path, "graph.yaml", GRAPH)))

    assert '    greet>"greet<br/><i>shout</i>"]' in chart.splitlines()
    assert "    greet --> each" in chart.splitlines()


def test_unregistered_type_is_unknown_again(tmp_path, shout_registered):
    assert "shout" in node_types()
    shout_registered.unregister()

    assert get_node_type("shout") is None
    with pytest.raises(GraphValidationError) as caught:
        load_graph_config(write(tmp_path, "graph.yaml", GRAPH))
    message = str(caught.value.issues[0])
    assert "unknown node type 'shout'" in message
    known = "known: agent, interrupt, llm, map, passthrough, python, router, subgraph, tool_call"
    assert known in message


def test_a_name_cannot_be_taken_twice_by_another_class():
    from yamlgraph.node_types import register_node_type
    from yamlgraph.node_types.llm import LlmNode

    class Impostor(LlmNode):
        pass

    with pytest.raises(ValueError, match="node type 'llm' is registered already"):
        register_node_type(Impostor())
    assert type(get_node_type("llm")) is LlmNode
