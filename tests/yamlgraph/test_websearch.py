"""`type: websearch` tools and yamlgraph's underscore state keys.

A websearch tool always loads; its search function is a setting (a callable or dotted
path). Without one, the run fails the node with an error naming the setting.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.yamlgraph.conftest import compile_file, thread, write
from yamlgraph.errors import GraphRuntimeError, GraphValidationError
from yamlgraph.graph_loader import load_graph_config
from yamlgraph.websearch import ENVIRONMENT_VARIABLE, set_search_function

RESEARCH = """\
name: research
state:
  topic: str
tools:
  search_web:
    type: websearch
    provider: duckduckgo
    max_results: 2
    description: Search the web for current information
nodes:
  research:
    type: agent
    prompt: researcher
    tools: [search_web]
    state_key: research
    tool_results_key: _tool_results
    responses:
      - {tool_calls: [{name: search_web, args: {query: "langgraph checkpointers"}}]}
      - "Found it."
edges:
  - {from: START, to: research}
  - {from: research, to: END}
exports:
  _tool_results: {format: json, filename: tool_log.json}
"""

PROMPT = """\
system: You research topics on the web.
user: "Research {state.topic}"
"""

SEARCHES: list[dict[str, Any]] = []


def research_file(directory: Any, text: str = RESEARCH) -> Any:
    """The research graph (or `text`) with its prompt beside it."""
    write(directory, "prompts/researcher.yaml", PROMPT)
    return write(directory, "research.yaml", text)


def fake_search(query: str, *, max_results: int, provider: str) -> list[dict[str, str]]:
    """A search function as a deployment would name it (dotted path), without the network."""
    SEARCHES.append({"query": query, "max_results": max_results, "provider": provider})
    return [{"title": f"{query} #{i}", "url": f"https://example.org/{i}"} for i in range(2)]


@pytest.fixture(autouse=True)
def no_search_function(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    set_search_function(None)
    SEARCHES.clear()
    yield
    set_search_function(None)


def test_a_websearch_graph_loads_without_a_search_function(tmp_path) -> None:
    config = load_graph_config(research_file(tmp_path))
    tool = config.tools["search_web"]
    assert (tool.kind, tool.provider, tool.max_results) == ("websearch", "duckduckgo", 2)


def test_a_run_without_a_search_function_fails_the_node_naming_the_setting(tmp_path) -> None:
    app = compile_file(research_file(tmp_path))
    with pytest.raises(GraphRuntimeError) as info:
        app.invoke({"topic": "x"}, thread())
    message = str(info.value)
    assert "node 'research'" in message
    assert "YAMLGRAPH['WEBSEARCH_FUNCTION']" in message
    assert ENVIRONMENT_VARIABLE in message


@pytest.mark.parametrize("how", ["callable", "dotted path", "environment"])
def test_the_configured_search_function_answers_the_agent(
    tmp_path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    dotted = f"{__name__}.fake_search"
    if how == "callable":
        set_search_function(fake_search)
    elif how == "dotted path":
        set_search_function(dotted)
    else:
        monkeypatch.setenv(ENVIRONMENT_VARIABLE, dotted)
    app = compile_file(research_file(tmp_path))
    result = app.invoke({"topic": "x"}, thread())
    assert result["research"] == "Found it."
    assert SEARCHES == [
        {"query": "langgraph checkpointers", "max_results": 2, "provider": "duckduckgo"}
    ]
    # tool_results_key with yamlgraph's underscore name keeps the tool log.
    [call] = result["_tool_results"]
    assert call["tool"] == "search_web" and call["success"] is True
    assert json.dumps(call["output"]).count("example.org") == 2


def test_a_search_function_that_does_not_import_names_the_setting(tmp_path) -> None:
    set_search_function("no_such_module_here.search")
    app = compile_file(research_file(tmp_path))
    with pytest.raises(GraphRuntimeError, match=r"cannot be imported.*WEBSEARCH_FUNCTION"):
        app.invoke({"topic": "x"}, thread())


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        ("{type: websearch, max_results: 0}", "tools.search_web.max_results: must be a positive"),
        ("{type: websearch, provider: ''}", "tools.search_web.provider: must be the name"),
        ("{type: websearch, api_key: x}", "tools.search_web.api_key: unknown"),
    ],
)
def test_bad_websearch_keys_are_named(tmp_path, tool: str, expected: str) -> None:
    text = RESEARCH.replace(
        """  search_web:
    type: websearch
    provider: duckduckgo
    max_results: 2
    description: Search the web for current information
""",
        f"  search_web: {tool}\n",
    )
    with pytest.raises(GraphValidationError) as info:
        load_graph_config(research_file(tmp_path, text))
    assert expected in str(info.value)


@pytest.mark.parametrize("key", ["_tool_results", "_notes"])
def test_underscore_state_keys_yamlgraph_accepts_are_accepted(tmp_path, key: str) -> None:
    text = f"""\
    name: underscore
    nodes:
      note:
        type: passthrough
        output: {{{key}: "kept"}}
    edges:
      - {{from: START, to: note}}
      - {{from: note, to: END}}
    """
    app = compile_file(write(tmp_path, "u.yaml", text))
    assert app.invoke({}, thread())[key] == "kept"


@pytest.mark.parametrize("key", ["_loop_counts", "_interrupt_payloads", "__interrupt__"])
def test_the_engines_own_keys_stay_refused(tmp_path, key: str) -> None:
    text = f"""\
    name: underscore
    nodes:
      note:
        type: passthrough
        output: {{{key}: "no"}}
    edges:
      - {{from: START, to: note}}
      - {{from: note, to: END}}
    """
    with pytest.raises(GraphValidationError, match=f"'{key}' cannot be a state key"):
        load_graph_config(write(tmp_path, "u.yaml", text))


def test_internal_keys_match_the_engines_constants() -> None:
    from yamlgraph import config
    from yamlgraph.state_keys import INTERNAL_KEYS

    engine = {config.ROUTE_KEY, config.VISITS_KEY, config.PAYLOADS_KEY, config.RELAY_KEY}
    assert engine == INTERNAL_KEYS
