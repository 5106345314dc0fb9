"""Fixtures for the session service tests: extra graphs that fail, fan out or flake.

The example graphs cover the happy paths; these add the behaviours a user notices only
when something goes wrong (a graph error, a transient failure, two questions at once).
All run offline and store checkpoints in a real SQLite file (from `yamlgraph_settings`).
"""

from __future__ import annotations

import sqlite3
import textwrap
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from yamlgraph_django import registry
from yamlgraph_django.models import GraphDefinition

CHECKS_TOOL = '''
"""Tools for the service tests."""
import time
from pathlib import Path


def check_answer(state):
    """Rejects the answer 'bad', as a graph validating a person's input would."""
    if state.get("answer") == "bad":
        raise ValueError("answer 'bad' is not allowed")
    return {"result": f"accepted {state.get('answer')}"}


def flaky(state):
    """Fails while a FAIL file sits next to this module: a transient outage to retry."""
    if (Path(__file__).parent / "FAIL").exists():
        raise RuntimeError("the service is down")
    return {"result": "done"}


def slow(state):
    """Signals STARTED, then works until a GO file appears: a run a test can hold open."""
    here = Path(__file__).parent
    (here / "STARTED").touch()
    for _ in range(1000):
        if (here / "GO").exists():
            break
        time.sleep(0.01)
    return {"result": "slow done"}
'''

GRAPHS = {
    "checked.yaml": """
        version: "1.0"
        name: checked
        description: One question whose answer a python node checks.
        state:
          answer: str
          result: str
        tools:
          check_answer: {path: tools/checks.py, function: check_answer}
        nodes:
          ask:
            type: interrupt
            message: "Your answer?"
            resume_key: answer
          check:
            type: python
            tool: check_answer
        edges:
          - {from: START, to: ask}
          - {from: ask, to: check}
          - {from: check, to: END}
    """,
    "flaky.yaml": """
        version: "1.0"
        name: flaky
        description: A python node that fails while tools/FAIL exists.
        state:
          count: int
          result: str
        tools:
          flaky: {path: tools/checks.py, function: flaky}
        nodes:
          work:
            type: python
            tool: flaky
        edges:
          - {from: START, to: work}
          - {from: work, to: END}
    """,
    "slow.yaml": """
        version: "1.0"
        name: slow
        description: A python node that runs until tools/GO exists.
        state:
          result: str
        tools:
          slow: {path: tools/checks.py, function: slow}
        nodes:
          work:
            type: python
            tool: slow
        edges:
          - {from: START, to: work}
          - {from: work, to: END}
    """,
    "pair.yaml": """
        version: "1.0"
        name: pair
        description: Two questions asked at once.
        state:
          first: str
          second: str
          both: str
        nodes:
          ask_first:
            type: interrupt
            message: "First?"
            state_key: first_question
            resume_key: first
          ask_second:
            type: interrupt
            message: "Second?"
            state_key: second_question
            resume_key: second
          join:
            type: passthrough
            output:
              both: "{state.first} and {state.second}"
        edges:
          - {from: START, to: [ask_first, ask_second]}
          - {from: [ask_first, ask_second], to: join}
          - {from: join, to: END}
    """,
    "typed.yaml": """
        version: "1.0"
        name: typed
        description: Every state type, for input validation.
        state:
          s: str
          i: int
          f: float
          b: bool
          l: list
          d: dict
          a: any
        nodes:
          echo:
            type: passthrough
            output:
              s: "{state.s}"
        edges:
          - {from: START, to: echo}
          - {from: echo, to: END}
    """,
}


@pytest.fixture
def graphs(
    db: None, yamlgraph_settings: dict[str, Any], graph_dir: Path
) -> dict[str, GraphDefinition]:
    """The example graphs plus `checked`, `flaky`, `slow`, `pair` and `typed`, registered."""
    (graph_dir / "tools" / "checks.py").write_text(CHECKS_TOOL, encoding="utf-8")
    for name, text in GRAPHS.items():
        (graph_dir / name).write_text(textwrap.dedent(text), encoding="utf-8")
    report = registry.sync_graphs()
    assert report.ok, str(report)
    return report.definitions


@pytest.fixture
def checkpoint_file(yamlgraph_settings: dict[str, Any]) -> Path:
    return Path(yamlgraph_settings["DEFAULT_CHECKPOINTER"]["path"])


@pytest.fixture
def stored_threads(checkpoint_file: Path):
    """stored_threads() -> thread ids with rows in the SQLite checkpoint file, read directly."""

    def read() -> set[str]:
        if not checkpoint_file.exists():
            return set()
        with closing(sqlite3.connect(checkpoint_file)) as conn:
            rows = conn.execute(
                "SELECT thread_id FROM checkpoints UNION SELECT thread_id FROM writes"
            ).fetchall()
        return {row[0] for row in rows}

    return read


@pytest.fixture
def fail_flag(graph_dir: Path):
    """The FAIL file that makes the `flaky` graph's node raise while it exists."""
    return graph_dir / "tools" / "FAIL"


@pytest.fixture
def store_down(yamlgraph_settings: dict[str, Any]) -> override_settings:
    """`with store_down:` every graph's checkpoints live on a Redis nobody runs (port 1)."""
    dead = {"type": "redis", "url": "redis://127.0.0.1:1/0"}
    return override_settings(YAMLGRAPH={**yamlgraph_settings, "CHECKPOINTER_OVERRIDE": dead})
