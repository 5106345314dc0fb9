"""Helpers for engine tests: write a graph file, compile it, run Python in a fresh process."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from yamlgraph.graph_loader import compile_graph, load_graph_config

REPO = Path(__file__).resolve().parents[2]
GRAPHS = REPO / "graphs"

_threads = itertools.count(1)


def write(directory: Path, name: str, text: str) -> Path:
    """Write dedented `text` to directory/name (creating folders) and return the path."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def compile_file(path: Path | str, checkpointer=None):
    """Load, validate and compile a graph file with an in-memory saver unless one is given."""
    config = load_graph_config(path)
    return compile_graph(config).compile(checkpointer=checkpointer or InMemorySaver())


def thread(name: str | None = None) -> dict:
    return {"configurable": {"thread_id": name or f"t{next(_threads)}"}}


def questions(result: dict) -> list:
    """The values of the interrupts a run paused on, in order."""
    return [item.value for item in result.get("__interrupt__", [])]


@pytest.fixture
def graph(tmp_path):
    """graph(yaml_text, name="graph.yaml") -> compiled app (in-memory checkpointer)."""

    def build(text: str, name: str = "graph.yaml", checkpointer=None):
        return compile_file(write(tmp_path, name, text), checkpointer)

    return build


def run_python(code: str, cwd: Path | None = None, stdin: str | None = None, timeout: float = 60):
    """Run `code` in a new interpreter (a "restart"); returns the CompletedProcess."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd or REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cli(*args: str, cwd: Path | None = None, stdin: str | None = None, timeout: float = 60):
    """`python -m yamlgraph ARGS...` in a new process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "yamlgraph", *args],
        cwd=cwd or REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def sqlite_app(graph_path: Path | str, db: Path):
    """The graph compiled with a SqliteSaver on `db`, as a freshly started process would."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    saver = SqliteSaver(sqlite3.connect(str(db), check_same_thread=False))
    return compile_graph(load_graph_config(graph_path)).compile(checkpointer=saver)


def step_in_new_process(graph_path: Path, db: Path, thread_id: str, resume) -> dict:
    """Resume a thread with `resume` in a new interpreter that shares only the sqlite file;
    returns the result, its pending interrupts as a list of their values."""
    code = f"""
        import json
        from langgraph.types import Command
        from tests.yamlgraph.conftest import sqlite_app

        app = sqlite_app({str(graph_path)!r}, {str(db)!r})
        config = {{"configurable": {{"thread_id": {thread_id!r}}}}}
        result = app.invoke(Command(resume=json.loads({json.dumps(resume)!r})), config)
        result["__interrupt__"] = [item.value for item in result.get("__interrupt__", [])]
        print(json.dumps(result))
    """
    process = run_python(code)
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout.strip().splitlines()[-1])
