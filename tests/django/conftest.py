"""Fixtures for the Django app's tests, reusable by every test under tests/django/.

- ``graph_dir``: a temporary copy of the repository's example graphs (with prompts/
  and tools/), so a test may edit, add or delete files freely.
- ``yamlgraph_settings``: YAMLGRAPH pointing at ``graph_dir`` with a SQLite
  checkpointer file in the test's tmp_path; yields the settings dict.
- ``synced_graphs``: the example graphs registered; ``{name: GraphDefinition}``.
- ``write_graph``: writes a small valid graph file (or given text) into a directory.

Every test starts with a fresh registry state (no lazy sync done yet, no parsed
configs), as a new process would: the database is rolled back between tests, so a
"synced" flag left over from another test would lie.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from yamlgraph_django import registry
from yamlgraph_django.models import GraphDefinition

REPO_GRAPHS = Path(__file__).resolve().parents[2] / "graphs"


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    registry.reset()
    yield
    registry.reset()


@pytest.fixture
def graph_dir(tmp_path: Path) -> Path:
    """A copy of graphs/ (interview, approval, support-router, prompts/, tools/)."""
    target = tmp_path / "graphs"
    shutil.copytree(REPO_GRAPHS, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def yamlgraph_settings(graph_dir: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """YAMLGRAPH with GRAPH_DIRS=[graph_dir] and checkpoints in tmp_path/checkpoints.sqlite3."""
    value = {
        **getattr(settings, "YAMLGRAPH", {}),
        "GRAPH_DIRS": [graph_dir],
        "DEFAULT_CHECKPOINTER": {"type": "sqlite", "path": str(tmp_path / "checkpoints.sqlite3")},
        "CHECKPOINTER_OVERRIDE": None,
    }
    with override_settings(YAMLGRAPH=value):
        yield value


@pytest.fixture
def synced_graphs(db: None, yamlgraph_settings: dict[str, Any]) -> dict[str, GraphDefinition]:
    """The example graphs registered from ``graph_dir``: {name: GraphDefinition}."""
    report = registry.sync_graphs()
    assert report.ok, str(report)
    return report.definitions


GRAPH_TEMPLATE = """\
version: "1.0"
name: {name}
description: {description}
state:
  answer: str
nodes:
  ask:
    type: interrupt
    message: "{question}"
    resume_key: answer
edges:
  - {{from: START, to: ask}}
  - {{from: ask, to: END}}
"""


@pytest.fixture
def write_graph() -> Callable[..., Path]:
    """write_graph(directory, filename, *, name=..., question=..., text=None) -> path.

    Writes a one-interrupt graph (or `text` verbatim, dedented) and returns its path.
    """

    def write(
        directory: Path,
        filename: str,
        *,
        name: str = "demo",
        question: str = "What is your answer?",
        description: str = "A one-question graph.",
        text: str | None = None,
    ) -> Path:
        path = Path(directory) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            text = GRAPH_TEMPLATE.format(name=name, question=question, description=description)
        else:
            text = textwrap.dedent(text)
        path.write_text(text, encoding="utf-8")
        return path

    return write
