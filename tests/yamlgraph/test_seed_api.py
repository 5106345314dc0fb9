"""The seed document's Python code blocks, run exactly as written, with memory and SQLite.

The blocks below are copied verbatim from SEED-checkpointers.md ("Sync Usage", "Async
Usage"); the async one keeps its top-level `await`s and is compiled as such.
"""

from __future__ import annotations

import ast
import sqlite3

import pytest
from langgraph.types import Command

from tests.yamlgraph.conftest import GRAPHS, write
from yamlgraph.executor_async import load_and_compile_async, run_graph_async
from yamlgraph.graph_loader import compile_graph, get_checkpointer_for_graph, load_graph_config
from yamlgraph.storage import aclose_checkpointer, close_checkpointer

SYNC_BLOCK = """
from yamlgraph.graph_loader import load_graph_config, compile_graph, get_checkpointer_for_graph

config = load_graph_config("graphs/my-graph.yaml")
graph = compile_graph(config)
checkpointer = get_checkpointer_for_graph(config)

app = graph.compile(checkpointer=checkpointer)

# Use with thread_id
result = app.invoke(
    {"input": "hello"},
    {"configurable": {"thread_id": "session-123"}}
)
"""

ASYNC_BLOCK = """
from yamlgraph.executor_async import load_and_compile_async, run_graph_async

# Automatically uses async-compatible checkpointer
app = await load_and_compile_async("graphs/my-graph.yaml")

result = await run_graph_async(
    app,
    {"input": "hello"},
    {"configurable": {"thread_id": "session-123"}}
)
"""

# The seed's "Quick Start" graph header, with nodes that echo the input and then pause.
MY_GRAPH = """
version: "1.0"
name: my-graph

checkpointer:
CHECKPOINTER

state:
  input: str

nodes:
  echo:
    type: llm
    provider: fake
    prompt: {user: "You said: {state.input}"}
    state_key: echoed
  confirm:
    type: interrupt
    message: "Is '{state.echoed}' right?"
    resume_key: confirmed

edges:
  - {from: START, to: echo}
  - {from: echo, to: confirm}
  - {from: confirm, to: END}
"""

CHECKPOINTERS = {
    "memory": "  type: memory  # In-memory (dev/testing)",
    "sqlite": '  type: sqlite\n  path: "./sessions.db"  # Or ":memory:" for in-memory',
    "sqlite-memory": '  type: sqlite\n  path: ":memory:"',
}

SESSION = {"configurable": {"thread_id": "session-123"}}


@pytest.fixture(params=sorted(CHECKPOINTERS))
def project(request, tmp_path, monkeypatch):
    """A working directory with graphs/my-graph.yaml, as in the seed's Quick Start."""
    write(
        tmp_path,
        "graphs/my-graph.yaml",
        MY_GRAPH.replace("CHECKPOINTER", CHECKPOINTERS[request.param]),
    )
    monkeypatch.chdir(tmp_path)
    return request.param


def _check_paused(result: dict) -> None:
    assert result["echoed"] == "You said: hello"
    assert [item.value for item in result["__interrupt__"]] == ["Is 'You said: hello' right?"]


@pytest.fixture
def savers():
    """Savers a test opened; their connections are closed afterwards."""
    opened: list = []
    yield opened
    for saver in opened:
        close_checkpointer(saver)


@pytest.fixture
async def async_savers():
    opened: list = []
    yield opened
    for saver in opened:
        await aclose_checkpointer(saver)


def test_sync_block(project, tmp_path, savers):
    namespace: dict = {}
    exec(SYNC_BLOCK, namespace)
    savers.append(namespace["checkpointer"])
    _check_paused(namespace["result"])

    done = namespace["app"].invoke(Command(resume="yes"), SESSION)
    assert done["confirmed"] == "yes"
    assert "__interrupt__" not in done

    if project == "sqlite":
        # the session is in ./sessions.db, where a new saver (a restarted app) finds it
        assert (tmp_path / "sessions.db").is_file()
        config = load_graph_config("graphs/my-graph.yaml")
        savers.append(get_checkpointer_for_graph(config))
        reopened = compile_graph(config).compile(checkpointer=savers[-1])
        assert reopened.get_state(SESSION).values["confirmed"] == "yes"
        with sqlite3.connect(tmp_path / "sessions.db") as db:
            threads = {row[0] for row in db.execute("select thread_id from checkpoints")}
        assert threads == {"session-123"}


async def test_async_block(project, tmp_path, async_savers):
    code = compile(ASYNC_BLOCK, "<seed>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict = {}
    await eval(code, namespace)
    async_savers.append(namespace["app"].checkpointer)
    _check_paused(namespace["result"])

    app = namespace["app"]
    done = await run_graph_async(app, Command(resume="yes"), SESSION)
    assert done["confirmed"] == "yes"

    if project == "sqlite":
        assert (tmp_path / "sessions.db").is_file()
        # a second async app on the same file sees the finished session
        again = await load_and_compile_async("graphs/my-graph.yaml")
        async_savers.append(again.checkpointer)
        snapshot = await again.aget_state(SESSION)
        assert snapshot.values["confirmed"] == "yes"
        assert not snapshot.next


async def test_async_and_sync_share_a_sqlite_file(tmp_path, monkeypatch, async_savers):
    """Start a session with the async API and finish it with the sync one."""
    write(
        tmp_path, "graphs/my-graph.yaml", MY_GRAPH.replace("CHECKPOINTER", CHECKPOINTERS["sqlite"])
    )
    monkeypatch.chdir(tmp_path)
    app = await load_and_compile_async("graphs/my-graph.yaml")
    async_savers.append(app.checkpointer)
    _check_paused(await run_graph_async(app, {"input": "hello"}, SESSION))

    config = load_graph_config("graphs/my-graph.yaml")
    async_savers.append(get_checkpointer_for_graph(config))
    sync_app = compile_graph(config).compile(checkpointer=async_savers[-1])
    assert sync_app.invoke(Command(resume="sure"), SESSION)["confirmed"] == "sure"


async def test_async_without_a_checkpointer_block_still_pauses(tmp_path, monkeypatch):
    write(tmp_path, "graphs/my-graph.yaml", MY_GRAPH.replace("checkpointer:\nCHECKPOINTER\n", ""))
    monkeypatch.chdir(tmp_path)
    app = await load_and_compile_async("graphs/my-graph.yaml")
    _check_paused(await run_graph_async(app, {"input": "hello"}, SESSION))
    assert (await run_graph_async(app, Command(resume="ok"), SESSION))["confirmed"] == "ok"


def test_load_graph_config_names_an_unset_variable_with_its_line(tmp_path, monkeypatch):
    monkeypatch.delenv("YG_TEST_SESSIONS_DIR", raising=False)
    block = '  type: sqlite\n  path: "${YG_TEST_SESSIONS_DIR}/sessions.db"'
    path = write(tmp_path, "graphs/my-graph.yaml", MY_GRAPH.replace("CHECKPOINTER", block))
    with pytest.raises(ValueError, match="YG_TEST_SESSIONS_DIR") as caught:
        load_graph_config(path)
    [issue] = caught.value.issues
    assert (issue.file, issue.path) == (str(path), "checkpointer.path")
    assert path.read_text().splitlines()[issue.line - 1].strip().startswith("path:")

    monkeypatch.setenv("YG_TEST_SESSIONS_DIR", str(tmp_path))
    config = load_graph_config(path)
    saver = get_checkpointer_for_graph(config)
    try:
        app = compile_graph(config).compile(checkpointer=saver)
        _check_paused(app.invoke({"input": "hello"}, SESSION))
        assert (tmp_path / "sessions.db").is_file()
    finally:
        close_checkpointer(saver)


def test_a_graph_without_checkpointer_block_gets_memory_and_resumes_in_the_sync_api():
    """The README snippet: no `checkpointer:` block, yet Command(resume=...) works."""
    config = load_graph_config(GRAPHS / "interview.yaml")
    app = compile_graph(config).compile(checkpointer=get_checkpointer_for_graph(config))
    thread = {"configurable": {"thread_id": "readme"}}
    first = app.invoke({"topic": "django"}, thread)
    assert first["__interrupt__"][0].value == "Hi! What is your name?"
    second = app.invoke(Command(resume="Ada"), thread)
    assert (
        second["__interrupt__"][0].value == "Thanks Ada. What do you want to achieve with django?"
    )
    done = app.invoke(Command(resume="ship"), thread)
    assert done["name"] == "Ada" and done["goal"] == "ship"
