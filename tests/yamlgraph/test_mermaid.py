"""Mermaid flowcharts drawn from the YAML: every node type has a shape, every edge kind a style."""

from __future__ import annotations

from tests.yamlgraph.conftest import GRAPHS, write
from yamlgraph.graph_loader import load_graph_config
from yamlgraph.mermaid import to_mermaid

ALL_KINDS = """
name: all-kinds
tools: {t: {path: tools.py, function: f}}
nodes:
  think: {prompt: {user: "hi"}}
  pick:
    type: router
    prompt: {user: "x"}
    routes: {a: tool-step, b: ask}
  tool-step: {type: python, tool: t}
  ask: {type: interrupt, message: "Say \\"why\\"?"}
  side: {type: passthrough, output: {x: "1"}}
  child: {type: subgraph, graph: child.yaml}
  each: {type: map, over: "{[1]}", as: n, node: {type: passthrough, output: {n: "{n}"}}}
  pick2:
    type: router
    prompt: {user: "x"}
    routes: {left: side, right: END}
edges:
  - {from: START, to: think}
  - {from: think, to: [pick, pick2]}
  - {from: pick, to: [tool-step, ask], type: conditional}
  - {from: tool-step, to: child, condition: "state.x == 'go'"}
  - {from: tool-step, to: side}
  - {from: [ask, side], to: each}
  - {from: child, to: END}
  - {from: each, to: each, condition: "state.n < 3"}
  - {from: each, to: END}
loop_limits: {each: 4}
loop_exits: {each: child}
"""


def test_every_node_type_and_edge_kind(tmp_path):
    write(tmp_path, "tools.py", "def f(state):\n    return {}\n")
    write(
        tmp_path,
        "child.yaml",
        "nodes: {c: {type: passthrough, output: {y: '1'}}}\nedges: [{from: START, to: c}]\n",
    )
    chart = to_mermaid(load_graph_config(write(tmp_path, "graph.yaml", ALL_KINDS)))
    lines = chart.splitlines()
    assert chart.endswith("\n")
    assert lines[:3] == ["flowchart TD", "    __start__([START])", "    __end__([END])"]
    # node shapes; '-' is not allowed in Mermaid ids, labels keep the YAML name
    for line in [
        '    think["think<br/><i>llm</i>"]',
        '    pick{"pick<br/><i>router</i>"}',
        '    tool_step[["tool-step<br/><i>python</i>"]]',
        '    ask{{"ask<br/><i>interrupt</i>"}}',
        '    side["side<br/><i>passthrough</i>"]',
        '    child[/"child<br/><i>subgraph</i>"/]',
        '    each[("each<br/><i>map</i>")]',
    ]:
        assert line in lines, line
    # edges: plain, fan-out, conditional on the router, condition, join, loop exit
    for line in [
        "    __start__ --> think",
        "    think --> pick",
        "    think --> pick2",
        "    pick -.-> tool_step",
        "    pick -.-> ask",
        "    tool_step -- \"state.x == 'go'\" --> child",
        "    tool_step --> side",
        "    ask --> each",
        "    side --> each",
        '    each -- "state.n < 3" --> each',
        "    child --> __end__",
        '    pick2 -. "left" .-> side',
        '    pick2 -. "right" .-> __end__',
        '    each -. "after 4 runs" .-> child',
    ]:
        assert line in lines, line


def test_example_graph_chart():
    chart = to_mermaid(load_graph_config(GRAPHS / "support_router.yaml"))
    assert "    classify -.-> bug_report" in chart.splitlines()
    assert '    bug_report{{"bug_report<br/><i>interrupt</i>"}}' in chart.splitlines()
