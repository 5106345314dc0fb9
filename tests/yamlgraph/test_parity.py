"""yamlgraph 0.6 node types and keys, one graph each, run through the seed's sync and async API.

The graphs live in tests/yamlgraph/parity/. Each runs with the checkpointer the seed API
gives it (`get_checkpointer_for_graph` / `load_and_compile_async`), and every pause is
answered with `Command(resume=...)` on the same thread, as an application would.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from langgraph.types import Command

from yamlgraph.errors import GraphRuntimeError
from yamlgraph.executor_async import load_and_compile_async, run_graph_async
from yamlgraph.graph_loader import compile_graph, get_checkpointer_for_graph, load_graph_config

PARITY = Path(__file__).parent / "parity"
_threads = itertools.count(1)


def _resume(result: dict, answer) -> Command:
    """Answer the first pending interrupt by its id (a map may have more than one)."""
    return Command(resume={result["__interrupt__"][0].id: answer})


async def drive(api: str, name: str, first: dict, *answers) -> list[dict]:
    """Run `name` with `first`, then answer each pause in turn; every result, in order."""
    path = PARITY / f"{name}.yaml"
    config = {"configurable": {"thread_id": f"parity-{next(_threads)}"}}
    results = []
    if api == "sync":
        graph_config = load_graph_config(path)
        app = compile_graph(graph_config).compile(
            checkpointer=get_checkpointer_for_graph(graph_config)
        )
        results.append(app.invoke(first, config))
        for answer in answers:
            results.append(app.invoke(_resume(results[-1], answer), config))
    else:
        app = await load_and_compile_async(path)
        results.append(await run_graph_async(app, first, config))
        for answer in answers:
            results.append(await run_graph_async(app, _resume(results[-1], answer), config))
    return results


def questions(result: dict) -> list:
    return [item.value for item in result.get("__interrupt__", [])]


API = pytest.mark.parametrize("api", ["sync", "async"])


@API
async def test_agent_calls_python_and_shell_tools_then_answers(api):
    (result,) = await drive(api, "agent", {"question": "2 + 3"})
    assert result["answer"] == "2 + 3 = 5"
    add, say = result["calls"]
    assert add == {"tool": "add", "args": {"a": 2, "b": 3}, "output": 5, "success": True}
    # the shell tool's argument is quoted: "; rm -rf /" is printed, not run
    assert say["output"] == "five; rm -rf /" and say["success"] is True


@API
async def test_agent_stops_at_max_iterations(api):
    (result,) = await drive(api, "agent_limit", {})
    # the script asks for a tool on every turn; two turns, two calls, then it stops
    assert len(result["calls"]) == 2
    assert result["loop"] == "3"  # like yamlgraph 0.6.5: the last message's text


@API
async def test_interrupt_and_resume_inside_an_agent_loop(api):
    first, second, done = await drive(api, "agent_interrupt", {"question": "x"}, "seven", "yes")
    assert questions(first) == ["Which number?"]
    assert questions(second) == ["Sure?"]
    # turns taken before a pause are replayed from the checkpoint, not asked again:
    # otherwise the resumed run would get the script's later answers too early
    assert done["answer"] == "thanks"
    assert [(c["tool"], c["output"]) for c in done["calls"]] == [
        ("add", 2),
        ("ask_human", "seven"),
        ("ask_human", "yes"),
    ]


@API
async def test_tool_call_nodes_in_a_map_and_alone(api):
    tasks = [
        {"id": 1, "tool": "add", "args": {"a": 1, "b": 2}},
        {"id": 2, "tool": "nope", "args": {}},
        {"id": 3, "tool": "say", "args": {"text": "$(echo pwned)"}},
    ]
    (result,) = await drive(api, "tool_call", {"tasks": tasks})
    assert result["findings"] == [
        {"task_id": 1, "tool": "add", "success": True, "result": 3, "error": None},
        {
            "task_id": 2,
            "tool": "nope",
            "success": False,
            "result": None,
            "error": "Unknown tool: nope",
        },
        {"task_id": 3, "tool": "say", "success": True, "result": "$(echo pwned)", "error": None},
    ]
    assert result["single"]["result"] == "1"


@API
async def test_python_variables_and_conditional_edges_on_route_from_any_node(api):
    (fast,) = await drive(api, "python_nodes", {"who": "Ada", "amount": 5})
    assert fast["greeting"] == "Hello, Ada!"  # `salutation` came from the node's variables
    assert fast["lane"] == "fast"  # a python node chose the edge
    (slow,) = await drive(api, "python_nodes", {"who": "Ada", "amount": 500})
    assert slow["lane"] == "slow + audited"  # then a passthrough chose the next one


@API
async def test_requires_names_the_missing_key(api):
    with pytest.raises(GraphRuntimeError, match="node 'greet': requires state 'who'"):
        await drive(api, "python_nodes", {"amount": 5})


@API
async def test_on_error_retry_fallback_and_skip(api):
    (result,) = await drive(api, "on_error", {"message": "hi", "words": ["a", "b"]})
    assert result["flaky"] == "third time lucky"  # two failures, max_retries: 2
    assert result["primary_down"] == "from the fallback"
    assert result["optional"] is None  # skipped, and recorded
    assert result["classify"] == "good"  # a router retried
    assert result["echoed"] == ["echo"]  # one map item failed and was left out
    assert sorted((e["node"], e["message"]) for e in result["errors"]) == [
        ("optional", "not today"),
        ("upbeat", "boom"),
    ]


@API
async def test_interrupt_and_resume_inside_a_direct_subgraph(api):
    first, done = await drive(api, "subgraph_direct", {"topic": "cats"}, "purr")
    assert questions(first) == ["What about cats?"]
    # the child's fields come back to the parent by name
    assert done["reply"] == "purr!"
    assert done["topic"] == "cats (done)"


@API
async def test_interrupt_and_resume_inside_map_items(api):
    first, second, done = await drive(api, "map_interrupt", {"words": ["a", "b"]}, "yes", "no")
    assert questions(first) == ["Keep A?"]
    assert questions(second) == ["Keep B?"]
    assert done["shouted"] == ["A", "B"]
    assert done["answers"] == ["yes", "no"]


@API
async def test_interrupt_output_mapping_shows_the_paused_childs_state(api):
    first, second, done = await drive(
        api, "subgraph_interrupt_mapping", {"user": "Ada"}, "blue", "pasta"
    )
    assert questions(first) == ["Ada, your favourite colour?"]
    assert first["partial"] == []  # the child's answers so far, while it waits
    assert questions(second) == ["And your favourite food?"]
    assert second["partial"] == ["blue"]
    assert done["final_report"] == "Ada likes blue and pasta"
    assert done["closing"] == "Thanks, Ada"


def _one_node(tmp_path, node: str) -> Path:
    path = tmp_path / "graph.yaml"
    path.write_text(f"nodes:\n  n: {node}\nedges:\n  - {{from: START, to: n}}\n")
    return path


@API
@pytest.mark.parametrize(
    ("node", "message"),
    [
        (  # retries exhausted: the node, the attempts and the last cause
            "{prompt: {user: hi}, on_error: retry, max_retries: 1,"
            " responses: [{raise: 'rate limited'}]}",
            r"node 'n': failed 2 times .*rate limited",
        ),
        (  # the fallback failed too: both causes and the fallback provider
            "{prompt: {user: hi}, on_error: fallback, responses: [{raise: down}],"
            " fallback: {provider: fake, responses: [{raise: also down}]}}",
            r"failed \(FakeModelError: down\).*'fake'.*also",
        ),
    ],
    ids=["retry-exhausted", "fallback-failed"],
)
async def test_a_policy_that_cannot_recover_fails_with_every_cause(api, tmp_path, node, message):
    app = await _app(api, _one_node(tmp_path, node))
    with pytest.raises(GraphRuntimeError, match=message):
        await _invoke(api, app, {})


@API
async def test_without_on_error_a_model_failure_fails_the_run(api, tmp_path):
    from yamlgraph.llm import FakeModelError

    app = await _app(api, _one_node(tmp_path, "{prompt: {user: hi}, responses: [{raise: nope}]}"))
    with pytest.raises(FakeModelError, match="nope"):
        await _invoke(api, app, {})


@API
async def test_an_agent_and_a_python_node_can_skip(api, tmp_path):
    (tmp_path / "tools.py").write_text("def broken(state):\n    raise RuntimeError('disk full')\n")
    path = tmp_path / "graph.yaml"
    path.write_text(
        "tools: {broken: {path: tools.py, function: broken}}\n"
        "nodes:\n"
        "  think: {type: agent, prompt: {user: hi}, on_error: skip, responses: [{raise: x}]}\n"
        "  work: {type: python, tool: broken, state_key: done, on_error: skip}\n"
        "edges:\n  - {from: START, to: think}\n  - {from: think, to: work}\n"
    )
    result = await _invoke(api, await _app(api, path), {})
    assert result["think"] is None and result["done"] is None
    assert [(e["node"], e["message"]) for e in result["errors"]] == [
        ("think", "x"),
        ("work", "disk full"),
    ]


async def _app(api: str, path: Path):
    if api == "sync":
        config = load_graph_config(path)
        return compile_graph(config).compile(checkpointer=get_checkpointer_for_graph(config))
    return await load_and_compile_async(path)


async def _invoke(api: str, app, value):
    config = {"configurable": {"thread_id": f"parity-{next(_threads)}"}}
    if api == "sync":
        return app.invoke(value, config)
    return await run_graph_async(app, value, config)


@API
async def test_map_items_run_by_an_agent_and_by_a_router(api):
    (result,) = await drive(api, "map_subnodes", {"nums": [1, 2]})
    assert result["sums"] == ["done", "done"]  # each item's agent called its tool, then answered
    assert result["routes"] == ["1", "2"]  # a router item collects its answer


@API
async def test_a_skipped_agent_item_is_left_out_and_recorded(api, tmp_path):
    path = tmp_path / "graph.yaml"
    path.write_text(
        "state: {xs: list}\n"
        "nodes:\n"
        "  each:\n"
        "    type: map\n"
        "    over: '{state.xs}'\n"
        "    as: x\n"
        "    on_error: skip\n"
        "    node: {type: agent, prompt: {user: '{state.x}'}, responses: [{raise: 'no model'}]}\n"
        "    collect: out\n"
        "edges:\n  - {from: START, to: each}\n"
    )
    result = await _invoke(api, await _app(api, path), {"xs": [1]})
    assert result["out"] == []
    assert result["errors"] == [{"node": "each", "type": "FakeModelError", "message": "no model"}]


async def test_stream_true_streams_the_answer_through_langgraph(tmp_path):
    node = "{prompt: {user: hi}, stream: true, responses: ['streamed answer']}"
    app = await _app("async", _one_node(tmp_path, node))
    config = {"configurable": {"thread_id": "stream"}}
    chunks = [
        message.content
        async for message, meta in app.astream({}, config, stream_mode="messages")
        if meta["langgraph_node"] == "n" and message.content
    ]
    assert chunks == ["streamed ", "answer"]  # token by token, not one message at the end
    assert (await app.aget_state(config)).values["n"] == "streamed answer"


@API
async def test_loop_limits_and_the_loop_count_in_templates(api):
    (result,) = await drive(api, "loop_limits", {"rounds": []})
    # three runs, each seeing how often it ran before (yamlgraph's _loop_counts), then END
    assert result["rounds"] == ["round ", "round 1", "round 2"]


@API
async def test_a_python_dict_is_a_state_update_even_with_state_key(api, tmp_path):
    (tmp_path / "tools.py").write_text(
        "def images(state):\n    return {'images': ['a.png'], 'count': 1}\n"
        "def total(state):\n    return 3\n"
    )
    path = tmp_path / "graph.yaml"
    path.write_text(
        "state: {count: int}\n"
        "tools:\n  images: {path: tools.py, function: images}\n"
        "  total: {path: tools.py, function: total}\n"
        "nodes:\n"
        "  draw: {type: python, tool: images, state_key: images}\n"
        "  add: {type: python, tool: total, state_key: sum}\n"
        "edges:\n  - {from: START, to: draw}\n  - {from: draw, to: add}\n"
    )
    result = await _invoke(api, await _app(api, path), {})
    # yamlgraph 0.6.5: the dict's keys are written; a non-dict goes to state_key
    assert result["images"] == ["a.png"] and result["count"] == 1
    assert result["sum"] == 3


@API
async def test_shell_tools_parse_env_working_dir_timeout_and_exit_codes(api):
    calls = [
        {"tool": "config_json", "args": {}},
        {"tool": "read_note", "args": {"name": "note.txt"}},
        {"tool": "slow", "args": {}},
        {"tool": "grep_missing", "args": {"word": "absent"}},
        {"tool": "read_note", "args": {}},
    ]
    (result,) = await drive(api, "shell_tools", {"calls": calls})
    parsed, note, slow, missing, no_argument = result["results"]
    assert parsed["result"] == {"greeting": "hi"}  # parse: json, with env added
    assert note["result"] == "hello from workdir"  # ran in working_dir
    assert slow["success"] is False and "timed out after 0.5 s" in slow["error"]
    assert missing["success"] is False and "exit code 1" in missing["error"]
    assert "needs argument(s) name" in no_argument["error"]


@API
async def test_route_field_and_skip_if_exists(api):
    (fresh,) = await drive(api, "router_keys", {"message": "hi"})
    assert fresh["draft"] == "a fresh draft"
    assert fresh["classify"] == "positive"  # as yamlgraph 0.6.5: the route_field's value
    assert fresh["message"] == "hi :)"  # route_field: tone chose 'positive'
    (kept,) = await drive(api, "router_keys", {"message": "hi", "draft": "mine"})
    assert kept["draft"] == "mine"  # skip_if_exists: the node did not run


def test_an_agent_paused_in_its_loop_resumes_in_another_process(tmp_path):
    from tests.yamlgraph.conftest import sqlite_app, step_in_new_process

    graph = PARITY / "agent_interrupt.yaml"
    db = tmp_path / "sessions.sqlite"
    config = {"configurable": {"thread_id": "agent-restart"}}
    first = sqlite_app(graph, db).invoke({"question": "x"}, config)
    assert questions(first) == ["Which number?"]
    second = step_in_new_process(graph, db, "agent-restart", "seven")
    assert second["__interrupt__"] == ["Sure?"]
    done = step_in_new_process(graph, db, "agent-restart", "yes")
    assert done["answer"] == "thanks"
    assert [c["output"] for c in done["calls"]] == [2, "seven", "yes"]
