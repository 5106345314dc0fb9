"""Fixtures for the session service tests: extra graphs that fail, fan out or flake.

The example graphs cover the happy paths; these add the behaviours a user notices only
when something goes wrong (a graph error, a transient failure, two questions at once).
All run offline and store checkpoints in a real SQLite file (from `yamlgraph_settings`);
`checked` and `pair`, `register_graphs`, `checkpoint_file` and `stored_threads` come from
tests/django/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from yamlgraph_django.models import GraphDefinition

TOOLS = '''
import time
from pathlib import Path


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
    register_graphs: Callable[..., dict[str, GraphDefinition]],
) -> dict[str, GraphDefinition]:
    """The example graphs plus `checked`, `flaky`, `slow`, `pair` and `typed`, registered."""
    return register_graphs(TOOLS, GRAPHS)


@pytest.fixture
def fail_flag(graph_dir: Path):
    """The FAIL file that makes the `flaky` graph's node raise while it exists."""
    return graph_dir / "tools" / "FAIL"


@pytest.fixture
def store_down(yamlgraph_settings: dict[str, Any]) -> override_settings:
    """`with store_down:` every graph's checkpoints live on a Redis nobody runs (port 1)."""
    dead = {"type": "redis", "url": "redis://127.0.0.1:1/0"}
    return override_settings(YAMLGRAPH={**yamlgraph_settings, "CHECKPOINTER_OVERRIDE": dead})
