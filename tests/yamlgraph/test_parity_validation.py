"""Validation of the yamlgraph 0.6 keys: each mistake is one error naming the key and line."""

from __future__ import annotations

import pytest

from tests.yamlgraph.conftest import write
from tests.yamlgraph.test_validation import line_of, single
from yamlgraph.graph_loader import load_graph_config

TOOLS = """
tools:
  add: {type: python, path: tools.py, function: add}
  say: {type: shell, command: "echo {text}"}
"""


@pytest.fixture(autouse=True)
def tools_file(tmp_path):
    write(tmp_path, "tools.py", "def add(a: int, b: int) -> int:\n    return a + b\n")


def graph(node: str, extra: str = "", edges: str = "  - {from: START, to: n}\n") -> str:
    return (
        f"{TOOLS}{extra}nodes:\n  n: {node}\n"
        + ("  other: {type: passthrough, output: {x: '1'}}\n" if "other" in edges else "")
        + f"edges:\n{edges}"
    )


@pytest.mark.parametrize(
    ("node", "path", "message"),
    [
        (
            "{type: agent, prompt: {user: hi}, tools: [add], max_iteration: 3}",
            "nodes.n.max_iteration",
            "unknown agent node key 'max_iteration' (did you mean 'max_iterations'?)",
        ),
        (
            "{type: agent, prompt: {user: hi}, tools: [ad]}",
            "nodes.n.tools[0]",
            "unknown tool 'ad' (did you mean 'add'?)",
        ),
        (
            "{type: agent, prompt: {user: hi}, max_iterations: 0}",
            "nodes.n.max_iterations",
            "must be a positive integer",
        ),
        (
            "{type: llm, prompt: {user: hi}, on_error: ignore}",
            "nodes.n.on_error",
            "unknown on_error 'ignore' for a llm node; use one of skip, retry, fail, fallback",
        ),
        (
            "{type: python, tool: add, on_error: retry}",
            "nodes.n.on_error",
            "unknown on_error 'retry' for a python node; use one of skip, fail",
        ),
        (
            "{type: llm, prompt: {user: hi}, on_error: fallback}",
            "nodes.n.on_error",
            "on_error: fallback needs 'fallback: {provider: ...}'",
        ),
        (
            "{type: llm, prompt: {user: hi}, on_error: retry, max_retries: -1}",
            "nodes.n.max_retries",
            "must be a whole number >= 0",
        ),
        (
            "{type: router, prompt: {user: hi}, routes: {a: END}, fallback: {provder: fake}}",
            "nodes.n.fallback.provder",
            "unknown fallback key 'provder' (did you mean 'provider'?)",
        ),
        (
            "{type: llm, prompt: {user: hi}, requires: topic}",
            "nodes.n.requires",
            "must be a list of state keys",
        ),
        (
            "{type: python, tool: say}",
            "nodes.n.tool",
            "tool 'say' is a shell tool; a python node needs a python tool",
        ),
        (
            "{type: tool_call, tool: nope, args: {}}",
            "nodes.n.tool",
            "unknown tool 'nope'",
        ),
        (
            "{type: subgraph, graph: child.yaml, mode: stream}",
            "nodes.n.mode",
            "unknown subgraph mode 'stream'; use one of invoke, direct",
        ),
        (
            "{type: subgraph, graph: child.yaml, mode: direct, input_mapping: {a: b}}",
            "nodes.n.input_mapping",
            "mode: direct shares the parent's state by key name and takes no input_mapping",
        ),
        (
            "{type: map, over: '{state.xs}', as: x, node: {type: interrupt, prompt: ask}}",
            "nodes.n.node.prompt",
            "an interrupt inside a map asks with 'message'",
        ),
        (
            "{type: llm, prompt: {user: hi}, stream: yes please}",
            "nodes.n.stream",
            "must be true or false",
        ),
    ],
)
def test_node_key_mistakes(tmp_path, node, path, message):
    write(
        tmp_path,
        "child.yaml",
        "nodes:\n  c: {type: passthrough, output: {a: '1'}}\nedges:\n  - {from: START, to: c}\n",
    )
    write(tmp_path, "prompts/ask.yaml", "user: hi\n")
    issue = single(tmp_path, graph(node))
    assert issue.path == path
    assert message in issue.message
    assert issue.line == line_of(graph(node), "  n: ")


@pytest.mark.parametrize(
    ("tools", "path", "message"),
    [
        (
            "tools:\n  web: {type: mcp}\n",
            "tools.web.type",
            "unsupported tool type 'mcp' (supported: python, shell, websearch)",
        ),
        (
            "tools:\n  ls: {command: ls, parse: xml}\n",
            "tools.ls.parse",
            "must be one of json, none, text",
        ),
        (
            "tools:\n  ls: {command: ls, timout: 3}\n",
            "tools.ls.timout",
            "unknown shell tool key 'timout' (did you mean 'timeout'?)",
        ),
        (
            "tools:\n  ls: {command: ls, working_dir: nowhere}\n",
            "tools.ls.working_dir",
            "directory not found",
        ),
    ],
)
def test_tool_mistakes(tmp_path, tools, path, message):
    text = (
        tools
        + "nodes:\n  n: {type: passthrough, output: {x: '1'}}\nedges:\n  - {from: START, to: n}\n"
    )
    issue = single(tmp_path, text)
    assert issue.path == path
    assert message in issue.message


def test_a_conditional_edge_from_a_node_that_cannot_set_route(tmp_path):
    edges = "  - {from: START, to: n}\n  - {from: n, to: [other, END], type: conditional}\n"
    issue = single(tmp_path, graph("{type: llm, prompt: {user: hi}}", edges=edges))
    assert issue.path == "edges[1].to"
    assert "the source cannot set state._route" in issue.message


def test_a_conditional_edge_from_a_python_node_is_valid(tmp_path):
    edges = "  - {from: START, to: n}\n  - {from: n, to: [other, END], type: conditional}\n"
    path = write(tmp_path, "graph.yaml", graph("{type: python, tool: add}", edges=edges))
    assert load_graph_config(path).nodes["n"].type == "python"


def test_exports_mistakes(tmp_path):
    extra = "exports:\n  x: {format: pdf, filename: ../x.pdf}\n"
    text = graph("{type: passthrough, output: {x: '1'}}", extra=extra)
    path = write(tmp_path, "graph.yaml", text)
    with pytest.raises(Exception) as caught:
        load_graph_config(path)
    found = {issue.path: issue.message for issue in caught.value.issues}
    assert "must be one of markdown, json, text" in found["exports.x.format"]
    assert "must be a plain file name" in found["exports.x.filename"]
