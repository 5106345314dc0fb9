"""Validation: every problem names the file, the YAML path and the line, all reported at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.yamlgraph.conftest import write
from yamlgraph.errors import GraphValidationError, ValidationIssue
from yamlgraph.graph_loader import load_graph_config, load_graph_source

# A valid graph that the cases below break in one place each.
OK_NODES = """
nodes:
  ask:
    type: interrupt
    message: "Name?"
  greet:
    type: passthrough
    output: {greeting: "hi {state.user_input}"}
edges:
  - {from: START, to: ask}
  - {from: ask, to: greet}
  - {from: greet, to: END}
"""


def issues_of(tmp_path: Path, text: str, name: str = "graph.yaml") -> tuple[Path, list]:
    path = write(tmp_path, name, text)
    with pytest.raises(GraphValidationError) as caught:
        load_graph_config(path)
    return path, caught.value.issues


def line_of(text: str, snippet: str, occurrence: int = 1) -> int:
    """1-based line of the `occurrence`-th line of the (dedented) text containing snippet."""
    lines = textwrap.dedent(text).lstrip("\n").splitlines()
    hits = [number for number, line in enumerate(lines, 1) if snippet in line]
    return hits[occurrence - 1]


def single(tmp_path: Path, text: str) -> ValidationIssue:
    path, issues = issues_of(tmp_path, text)
    assert len(issues) == 1, "\n".join(map(str, issues))
    assert issues[0].file == str(path)
    return issues[0]


def test_the_ok_graph_is_valid(tmp_path):
    config = load_graph_config(write(tmp_path, "graph.yaml", OK_NODES))
    assert list(config.nodes) == ["ask", "greet"]


def test_unknown_top_level_key_suggests_the_nearest(tmp_path):
    text = "checkpionter: {type: memory}\n" + OK_NODES
    issue = single(tmp_path, text)
    assert issue.path == "checkpionter"
    assert issue.line == 1
    assert "unknown top-level key 'checkpionter'" in issue.message
    assert "did you mean 'checkpointer'?" in issue.message


def test_unknown_node_key_suggests_the_nearest(tmp_path):
    text = OK_NODES.replace('    message: "Name?"', '    message: "Name?"\n    resume_kye: name')
    issue = single(tmp_path, text)
    assert issue.path == "nodes.ask.resume_kye"
    assert issue.line == line_of(text, "resume_kye")
    assert "did you mean 'resume_key'?" in issue.message


def test_unknown_node_type(tmp_path):
    text = OK_NODES.replace("type: interrupt", "type: interupt")
    # one error: edges to the rejected node are not reported again
    issue = single(tmp_path, text)
    assert issue.path == "nodes.ask.type"
    assert issue.line == line_of(text, "type: interupt")
    assert "unknown node type 'interupt'" in issue.message
    assert "did you mean 'interrupt'?" in issue.message
    assert (
        "known: agent, interrupt, llm, map, passthrough, python, router, subgraph, tool_call"
        in issue.message
    )


@pytest.mark.parametrize(
    ("edge", "path", "name", "hint"),
    [
        ("{from: greet, to: ENDD}", "edges[2].to", "ENDD", "did you mean 'END'?"),
        ("{from: greeet, to: END}", "edges[2].from", "greeet", "did you mean 'greet'?"),
    ],
)
def test_edge_to_or_from_an_unknown_node(tmp_path, edge, path, name, hint):
    text = OK_NODES.replace("{from: greet, to: END}", edge)
    issue = single(tmp_path, text)
    assert issue.path == path
    assert issue.line == line_of(text, edge)
    assert f"unknown node '{name}'" in issue.message and hint in issue.message


def test_unreachable_node(tmp_path):
    text = OK_NODES.replace(
        "edges:", "  orphan:\n    type: passthrough\n    output: {x: '1'}\nedges:"
    )
    issue = single(tmp_path, text)
    assert issue.path == "nodes.orphan"
    assert issue.line == line_of(text, "orphan:")
    assert "not reachable from START" in issue.message


def test_no_edge_from_start(tmp_path):
    text = OK_NODES.replace("  - {from: START, to: ask}\n", "")
    _, issues = issues_of(tmp_path, text)
    assert any(i.path == "edges" and "no edge starts at START" in i.message for i in issues)


def test_conditional_to_list_without_a_way_to_choose(tmp_path):
    text = OK_NODES.replace(
        "{from: ask, to: greet}", "{from: ask, to: [greet, END], type: conditional}"
    )
    issue = single(tmp_path, text)
    assert issue.path == "edges[1].to"
    assert issue.line == line_of(text, "type: conditional")
    assert "without a way to choose" in issue.message


def test_missing_prompt_file(tmp_path):
    text = """
        nodes:
          write:
            type: llm
            prompt: no_such_prompt
        edges:
          - {from: START, to: write}
          - {from: write, to: END}
    """
    issue = single(tmp_path, text)
    assert issue.path == "nodes.write.prompt"
    assert issue.line == 4
    assert "prompt file 'no_such_prompt' not found" in issue.message
    assert str(tmp_path / "prompts" / "no_such_prompt.yaml") in issue.message


def test_llm_without_prompt(tmp_path):
    text = """
        nodes:
          write: {type: llm}
        edges:
          - {from: START, to: write}
    """
    issue = single(tmp_path, text)
    assert (issue.path, issue.line) == ("nodes.write", 2)
    assert "missing 'prompt'" in issue.message


TOOL_GRAPH = """
tools:
  helper:
    TOOL_SPEC
nodes:
  work: {type: python, tool: helper}
edges:
  - {from: START, to: work}
  - {from: work, to: END}
"""


@pytest.mark.parametrize(
    ("spec", "path", "snippet", "message"),
    [
        (
            "{module: no_such_module_xyz, function: f}",
            "tools.helper",
            "helper:",
            "cannot import tool: No module named 'no_such_module_xyz'",
        ),
        (
            "{module: json, function: no_such_function}",
            "tools.helper.function",
            "TOOL_SPEC",
            "function 'no_such_function' not found in json",
        ),
        (
            "{path: missing_tools.py, function: f}",
            "tools.helper.path",
            "TOOL_SPEC",
            "tool file not found",
        ),
        (
            "{path: tools.py, function: not_there}",
            "tools.helper.function",
            "TOOL_SPEC",
            "function 'not_there' not found in",
        ),
        ("{module: json, function: __doc__}", "tools.helper.function", "TOOL_SPEC", "not callable"),
        ("{function: f}", "tools.helper", "helper:", "give exactly one of 'module' or 'path'"),
    ],
)
def test_tool_problems(tmp_path, spec, path, snippet, message):
    write(tmp_path, "tools.py", "def f(state):\n    return {}\n")
    issue = single(tmp_path, TOOL_GRAPH.replace("TOOL_SPEC", spec))
    assert issue.path == path
    assert issue.line == line_of(TOOL_GRAPH, snippet)
    assert message in issue.message


def test_python_node_with_an_unknown_tool(tmp_path):
    text = """
        nodes:
          work: {type: python, tool: helpr}
        edges:
          - {from: START, to: work}
    """
    issue = single(tmp_path, text)
    assert (issue.path, issue.line) == ("nodes.work.tool", 2)
    assert "unknown tool 'helpr'" in issue.message


def test_bad_condition_syntax(tmp_path):
    text = OK_NODES.replace(
        "{from: ask, to: greet}", "{from: ask, to: greet, condition: 'state.x =='}"
    )
    text = text.replace(
        "  - {from: greet, to: END}", "  - {from: greet, to: END}\n  - {from: ask, to: END}"
    )
    issue = single(tmp_path, text)
    assert issue.path == "edges[1].condition"
    assert issue.line == line_of(text, "condition:")
    assert "bad condition" in issue.message


def test_condition_may_not_call_functions(tmp_path):
    text = OK_NODES.replace(
        "{from: ask, to: greet}", "{from: ask, to: greet, condition: \"__import__('os')\"}"
    )
    issue = single(tmp_path, text)
    assert issue.path == "edges[1].condition"
    assert "bad condition" in issue.message


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ('message: "Name {state.user_input"', "nodes.ask.message"),  # unclosed brace
        ('message: "{state.x +}"', "nodes.ask.message"),  # bad expression
        ('message: "{{ state.x "', "nodes.ask.message"),  # bad Jinja
        ('message: {question: "{1 +* 2}"}', "nodes.ask.message.question"),  # inside a dict
    ],
)
def test_bad_template(tmp_path, template, path):
    text = OK_NODES.replace('message: "Name?"', template)
    issue = single(tmp_path, text)
    assert issue.path == path
    assert issue.line == line_of(text, "message:")
    assert "bad template" in issue.message


def test_bad_template_in_passthrough_output_and_llm_prompt(tmp_path):
    text = """
        nodes:
          think:
            prompt: {user: "about {state.topic"}
          say:
            type: passthrough
            output:
              text: "{state.x ==}"
        edges:
          - {from: START, to: think}
          - {from: think, to: say}
    """
    _, issues = issues_of(tmp_path, text)
    assert [(i.path, i.line) for i in issues] == [
        ("nodes.think.prompt.user", 3),
        ("nodes.say.output.text", 7),
    ]
    assert all("bad template" in i.message for i in issues)


def test_resume_key_equal_to_state_key(tmp_path):
    text = OK_NODES.replace(
        '    message: "Name?"', '    message: "Name?"\n    state_key: name\n    resume_key: name'
    )
    issue = single(tmp_path, text)
    assert issue.path == "nodes.ask.resume_key"
    assert issue.line == line_of(text, "resume_key: name")
    assert "the answer would overwrite the question" in issue.message


def test_resume_key_equal_to_the_default_state_key(tmp_path):
    text = OK_NODES.replace(
        '    message: "Name?"', '    message: "Name?"\n    resume_key: interrupt_message'
    )
    issue = single(tmp_path, text)
    assert issue.path == "nodes.ask.resume_key"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("__secret", "names starting with '__' are LangGraph's"),
        ("_route", "the engine keeps it"),
        ("my-key", "use a plain identifier"),
        ("'2fast'", "use a plain identifier"),
        ("class", "use a plain identifier"),
    ],
)
def test_state_key_must_be_a_public_identifier(tmp_path, key, reason):
    text = OK_NODES.replace('    message: "Name?"', f'    message: "Name?"\n    state_key: {key}')
    issue = single(tmp_path, text)
    assert issue.path == "nodes.ask.state_key"
    assert issue.line == line_of(text, "state_key:")
    assert "cannot be a state key" in issue.message and reason in issue.message


def test_private_passthrough_output_and_resume_key(tmp_path):
    text = OK_NODES.replace('{greeting: "hi {state.user_input}"}', '{_loop_counts: "{1}"}')
    text = text.replace('    message: "Name?"', '    message: "Name?"\n    resume_key: __answer')
    _, issues = issues_of(tmp_path, text)
    assert [(i.path, i.line) for i in issues] == [
        ("nodes.ask.resume_key", line_of(text, "resume_key")),
        ("nodes.greet.output._loop_counts", line_of(text, "_loop_counts")),
    ]


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        (
            "nodes:\n  a:\n    type: passthrough\n   output: {x: 1}\n",
            4,
            "invalid YAML: expected <block end>, but found '<block mapping start>'"
            " (while parsing a block mapping on line 2)",
        ),
        (
            "nodes:\n  a: {type: llm\nedges: []\n",
            3,
            "invalid YAML: expected ',' or '}', but got ':' (while parsing a flow mapping on line 2)",
        ),
        (
            'name: "unclosed\nnodes: {}\n',
            3,
            "invalid YAML: found unexpected end of stream (while scanning a quoted scalar on line 1)",
        ),
        (
            "nodes:\n\tbad: tab\n",
            2,
            "invalid YAML: found character '\\t' that cannot start any token",
        ),
    ],
)
def test_invalid_yaml_syntax_reports_its_line(tmp_path, source, line, message):
    path = tmp_path / "broken.yaml"
    path.write_text(source)
    with pytest.raises(GraphValidationError) as caught:
        load_graph_config(path)
    [issue] = caught.value.issues
    assert (issue.file, issue.path, issue.line) == (str(path), "", line)
    assert issue.message == message
    assert str(issue) == f"{path}:{line}: {message}"


def test_a_file_that_is_not_a_mapping(tmp_path):
    issue = single(tmp_path, "- just\n- a list\n")
    assert issue.line == 1
    assert "must be a YAML mapping" in issue.message


def test_missing_file():
    with pytest.raises(GraphValidationError) as caught:
        load_graph_config("/nonexistent/graph.yaml")
    [issue] = caught.value.issues
    assert issue.file == "/nonexistent/graph.yaml"
    assert "cannot read graph file" in issue.message


def test_state_types_reducers_and_names(tmp_path):
    text = """
        state:
          a: strng
          b: {type: list, reducer: append}
          c: {type: dict, reducer: add}
          d: {type: int, defualt: 0}
          not-ok: str
        nodes:
          n: {type: passthrough, output: {a: "x"}}
        edges:
          - {from: START, to: n}
    """
    _, issues = issues_of(tmp_path, text)
    found = {(i.path, i.line): i.message for i in issues}
    assert "did you mean 'str'?" in found[("state.a", 2)]
    assert "unknown reducer 'append'" in found[("state.b.reducer", 3)]
    assert "reducer 'add' cannot combine values of type 'dict'" in found[("state.c", 4)]
    assert "did you mean 'default'?" in found[("state.d.defualt", 5)]
    assert "not a valid state field name" in found[("state.not-ok", 6)]
    assert len(issues) == 5


def test_router_problems(tmp_path):
    text = """
        nodes:
          pick:
            type: router
            prompt: {user: "x"}
            routes: {a: go_a, b: nowhere}
          go_a: {type: passthrough, output: {x: "1"}}
          lonely:
            type: router
            prompt: {user: "x"}
        edges:
          - {from: START, to: pick}
          - {from: pick, to: lonely}
    """
    _, issues = issues_of(tmp_path, text)
    found = {i.path: i for i in issues}
    assert "route 'b' goes to unknown node 'nowhere'" in found["nodes.pick.routes.b"].message
    assert found["nodes.pick.routes.b"].line == 5
    assert "needs 'routes'" in found["nodes.lonely.routes"].message


def test_loop_limits_and_exits(tmp_path):
    text = OK_NODES + textwrap.dedent(
        """
        loop_limits: {greet: 0, nobody: 3}
        loop_exits: {ask: nowhere}
        """
    )
    _, issues = issues_of(tmp_path, text)
    found = {i.path: i for i in issues}
    assert "positive integer" in found["loop_limits.greet"].message
    assert "unknown node 'nobody'" in found["loop_limits.nobody"].message
    assert "unknown target node 'nowhere'" in found["loop_exits.ask"].message
    assert found["loop_exits.ask"].line == line_of(text, "loop_exits")


def test_subgraph_problems(tmp_path):
    write(
        tmp_path,
        "broken_child.yaml",
        "nodes:\n  a: {type: nope}\nedges:\n  - {from: START, to: a}\n",
    )
    text = """
        nodes:
          missing: {type: subgraph, graph: nowhere.yaml}
          broken: {type: subgraph, graph: broken_child.yaml}
          itself: {type: subgraph, graph: graph.yaml}
        edges:
          - {from: START, to: [missing, broken, itself]}
    """
    _, issues = issues_of(tmp_path, text)
    found = {i.path: i for i in issues}
    assert set(found) == {"nodes.missing.graph", "nodes.broken.graph", "nodes.itself.graph"}
    assert "subgraph file not found" in found["nodes.missing.graph"].message
    # the child's own problem, with the child's file and line, inside the parent's issue
    broken = found["nodes.broken.graph"]
    assert broken.line == 3
    assert "invalid subgraph" in broken.message
    assert f"{tmp_path / 'broken_child.yaml'}:2: nodes.a.type" in broken.message
    assert "cannot include itself" in found["nodes.itself.graph"].message


def test_map_problems(tmp_path):
    text = """
        nodes:
          each:
            type: map
            over: "{state.items"
            node: {type: subgraph, graph: child.yaml}
        edges:
          - {from: START, to: each}
    """
    _, issues = issues_of(tmp_path, text)
    found = {i.path: i for i in issues}
    assert "a map node needs 'as'" in found["nodes.each"].message
    assert "bad template" in found["nodes.each.over"].message
    assert found["nodes.each.node.type"].line == 5


def test_several_errors_are_reported_together(tmp_path):
    text = """
        version: "1.0"
        checkpionter: memory
        state:
          count: integer
        nodes:
          ask:
            type: interrupt
            message: "Hi {state.name"
            state_key: answer
            resume_key: answer
          think:
            type: llm
            prompt: missing_prompt
            temprature: 0.2
          stray:
            type: passthrough
            output: {x: "{1}"}
        edges:
          - {from: START, to: ask}
          - {from: ask, to: thinkk}
          - {from: think, to: END, condition: "state.count >"}
    """
    path, issues = issues_of(tmp_path, text)
    assert {i.file for i in issues} == {str(path)}
    got = sorted((i.line, i.path) for i in issues)
    assert got == sorted(
        (line, path)
        for path, line in [
            ("checkpionter", 2),
            ("state.count", 4),
            ("nodes.ask.message", 8),
            ("nodes.ask.resume_key", 10),
            ("nodes.think.temprature", 14),
            ("nodes.think.prompt", 13),
            ("edges[1].to", 20),
            ("edges[2].condition", 21),
            ("nodes.think", 11),
            ("nodes.stray", 15),
        ]
    )
    # str() of the error lists them all, one per line, as file:line: path: message
    error_text = str(GraphValidationError(issues))
    assert error_text.count("\n") == len(issues) - 1
    assert error_text.splitlines()[0] == (
        f"{path}:2: checkpionter: unknown top-level key 'checkpionter'"
        " (did you mean 'checkpointer'?)"
    )


def test_source_without_a_file_is_named_string():
    with pytest.raises(GraphValidationError) as caught:
        load_graph_source("nodes: {}\n")
    assert caught.value.issues[0].file == "<string>"
    assert "at least one node" in caught.value.issues[0].message


@pytest.mark.parametrize(
    ("node", "path", "message"),
    [
        ("{type: [interrupt]}", "nodes.a.type", "unknown node type"),
        (
            "{type: passthrough, output: 'x: 1'}",
            "nodes.a.output",
            "needs 'output': {key: template}",
        ),
        ("{type: router, prompt: {user: x}, routes: [a, b]}", "nodes.a.routes", "needs 'routes'"),
        ("{type: subgraph, graph: [child.yaml]}", "nodes.a", "needs 'graph'"),
        ("{type: python, tool: [helper]}", "nodes.a.tool", "must be the name of an entry"),
        ("{prompt: {user: x}, responses: 5}", "nodes.a.responses", "must be a list"),
    ],
)
def test_wrongly_typed_values_are_errors_not_crashes(tmp_path, node, path, message):
    text = f"nodes:\n  a: {node}\nedges:\n  - {{from: START, to: a}}\n"
    issue = single(tmp_path, text)
    assert (issue.path, issue.line) == (path, 2)
    assert message in issue.message


def test_edge_with_an_empty_list(tmp_path):
    text = OK_NODES + "  - {from: [], to: END}\n"
    issue = single(tmp_path, text)
    assert issue.path == "edges[3].from"
    assert "needs at least one node" in issue.message


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("def f(:\n", "cannot import tool: SyntaxError"),
        ("raise RuntimeError('no config')\n", "cannot import tool: RuntimeError: no config"),
    ],
)
def test_tool_file_that_fails_to_import(tmp_path, code, message):
    write(tmp_path, "tools.py", code)
    issue = single(tmp_path, TOOL_GRAPH.replace("TOOL_SPEC", "{path: tools.py, function: f}"))
    assert (issue.path, issue.line) == ("tools.helper", line_of(TOOL_GRAPH, "helper:"))
    assert message in issue.message


def test_a_rejected_edge_is_one_error_not_also_an_unreachable_node(tmp_path):
    text = OK_NODES.replace(
        "{from: START, to: ask}", "{from: START, to: ask, condition: 'state.x >'}"
    )
    issue = single(tmp_path, text)
    assert issue.path == "edges[0].condition"
