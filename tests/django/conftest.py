"""Fixtures for the Django app's tests, reusable by every test under tests/django/.

- ``graph_dir``: a temporary copy of the repository's example graphs (with prompts/
  and tools/), so a test may edit, add or delete files freely.
- ``yamlgraph_settings``: YAMLGRAPH pointing at ``graph_dir`` with a SQLite
  checkpointer file in the test's tmp_path; yields the settings dict.
- ``synced_graphs``: the example graphs registered; ``{name: GraphDefinition}``.
- ``write_graph``: writes a small valid graph file (or given text) into a directory.
- ``register_graphs``: registers the example graphs plus ``checked`` and ``pair`` (and
  whatever graphs and tool functions a suite adds); ``{name: GraphDefinition}``.
- ``checkpoint_file`` / ``stored_threads``: the SQLite checkpoint file of
  ``yamlgraph_settings``, and the thread ids that have rows in it, read directly.
- ``make_user``: a user, maybe staff, holding given yamlgraph_django permissions.

Every test starts with a fresh registry state (no lazy sync done yet, no parsed
configs), as a new process would: the database is rolled back between tests, so a
"synced" flag left over from another test would lie.
"""

from __future__ import annotations

import shutil
import sqlite3
import textwrap
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import django
import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import override_settings

from yamlgraph_django import registry
from yamlgraph_django.models import GraphDefinition

REPO_GRAPHS = Path(__file__).resolve().parents[2] / "graphs"


TASKS_MODULE = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
IMMEDIATE_TASKS = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def _tasks_in_process() -> Iterator[None]:
    """In-process tests run background tasks at once (Django's immediate backend); the
    project's default, a django-tasks-db queue worked by `manage.py yamlgraph worker`,
    is what tests/multiprocess runs with real worker processes."""
    with override_settings(TASKS=IMMEDIATE_TASKS):
        yield


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> Iterator[None]:
    """Request rates count per user in the default cache: each test starts at zero, as
    the user ids of a rolled-back database come round again; and no test sees another's
    worker heartbeat through the one-second cache of `newest_heartbeat`."""
    from django.core.cache import cache

    from yamlgraph_django.api.authentication import forget_tokens
    from yamlgraph_django.services import workers

    cache.clear()
    workers.forget()
    forget_tokens()
    yield


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


def _sync() -> dict[str, GraphDefinition]:
    report = registry.sync_graphs()
    assert report.ok, str(report)
    return report.definitions


@pytest.fixture
def synced_graphs(db: None, yamlgraph_settings: dict[str, Any]) -> dict[str, GraphDefinition]:
    """The example graphs registered from ``graph_dir``: {name: GraphDefinition}."""
    return _sync()


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


CHECKS_TOOL = '''
"""Tools of the test graphs (tools/checks.py); suites append their own functions."""


def check_answer(state):
    """Rejects the answer 'bad', as a graph validating a person's input would."""
    if state.get("answer") == "bad":
        raise ValueError("answer 'bad' is not allowed")
    return {"result": f"accepted {state.get('answer')}"}
'''

#: Graphs several suites run besides the examples: `checked` (a python node that rejects
#: one answer, from tools/checks.py) and `pair` (two questions asked at once).
EXTRA_GRAPHS = {
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
}


@pytest.fixture
def register_graphs(
    db: None, yamlgraph_settings: dict[str, Any], graph_dir: Path
) -> Callable[..., dict[str, GraphDefinition]]:
    """register_graphs(tools="", graphs={}) -> {name: GraphDefinition}.

    Registers the example graphs, `checked`, `pair` and `graphs` ({filename: YAML text,
    dedented}); `tools` (Python source) is appended to tools/checks.py, whose functions
    the graphs name as `{path: tools/checks.py, function: ...}`.
    """

    def register(tools: str = "", graphs: Mapping[str, str] | None = None) -> dict:
        (graph_dir / "tools" / "checks.py").write_text(CHECKS_TOOL + tools, encoding="utf-8")
        for filename, text in {**EXTRA_GRAPHS, **(graphs or {})}.items():
            (graph_dir / filename).write_text(textwrap.dedent(text), encoding="utf-8")
        return _sync()

    return register


@pytest.fixture
def checkpoint_file(yamlgraph_settings: dict[str, Any]) -> Path:
    """The SQLite file of ``yamlgraph_settings``' checkpointer."""
    return Path(yamlgraph_settings["DEFAULT_CHECKPOINTER"]["path"])


@pytest.fixture
def stored_threads(checkpoint_file: Path) -> Callable[[], set[str]]:
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
def make_user(django_user_model: Any) -> Callable[..., Any]:
    """make_user(username, *, staff=False, perms=()) -> a user (no password) holding
    exactly these yamlgraph_django permission codenames."""

    def make(username: str, *, staff: bool = False, perms: tuple[str, ...] = ()) -> Any:
        user = django_user_model.objects.create_user(username, is_staff=staff)  # no hashing
        for codename in perms:
            user.user_permissions.add(
                Permission.objects.get(
                    content_type__app_label="yamlgraph_django", codename=codename
                )
            )
        return user

    return make
