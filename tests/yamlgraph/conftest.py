"""Helpers for engine tests: write a graph file, compile it, run Python in a fresh process."""

from __future__ import annotations

import itertools
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
