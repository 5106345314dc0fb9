"""Fixtures for the API tests: users with tokens, clients, and graphs to run.

Every client authenticates the way a script would, with `Authorization: Token ...`
(rest_framework.authtoken). Graphs are the repository's examples plus `pair` (two
questions at once), `checked` (a python node that rejects one answer) and `slow` (half a
second of work after its question, so two requests can overlap), registered
from a temporary copy with checkpoints in a real SQLite file (`yamlgraph_settings`).
"""

from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from tests.django.api.support import token_header
from yamlgraph_django import registry
from yamlgraph_django.models import GraphDefinition

CHECKS_TOOL = '''
import time


def check_answer(state):
    """Rejects the answer 'bad', as a graph validating a person's input would."""
    if state.get("answer") == "bad":
        raise ValueError("answer 'bad' is not allowed")
    return {"result": f"accepted {state.get('answer')}"}


def slow_work(state):
    """Takes a moment, like an LLM call: long enough for a second request to arrive."""
    time.sleep(0.5)
    return {"result": f"worked on {state.get('answer')}"}
'''

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
    "slow.yaml": """
        version: "1.0"
        name: slow
        description: One question, then half a second of work.
        state:
          answer: str
          result: str
        tools:
          slow_work: {path: tools/checks.py, function: slow_work}
        nodes:
          ask:
            type: interrupt
            message: "Your answer?"
            resume_key: answer
          work:
            type: python
            tool: slow_work
        edges:
          - {from: START, to: ask}
          - {from: ask, to: work}
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
}


@pytest.fixture
def graphs(
    db: None, yamlgraph_settings: dict[str, Any], graph_dir: Path
) -> dict[str, GraphDefinition]:
    """interview, approval, support-router, checked, pair and slow, registered."""
    (graph_dir / "tools" / "checks.py").write_text(CHECKS_TOOL, encoding="utf-8")
    for filename, text in EXTRA_GRAPHS.items():
        (graph_dir / filename).write_text(textwrap.dedent(text), encoding="utf-8")
    report = registry.sync_graphs()
    assert report.ok, str(report)
    return report.definitions


@pytest.fixture
def make_user(django_user_model: Any) -> Callable[..., Any]:
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


@pytest.fixture
def client_for() -> Callable[[Any], APIClient]:
    """client_for(user) -> an APIClient sending that user's token (no session cookie)."""

    def make(user: Any) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=token_header(user))
        return client

    return make


@pytest.fixture
def alice(make_user: Callable[..., Any]) -> Any:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[..., Any]) -> Any:
    return make_user("bob")


@pytest.fixture
def api(alice: Any, client_for: Callable[[Any], APIClient], graphs: Any) -> APIClient:
    """Alice's client, with the graphs registered."""
    return client_for(alice)


@pytest.fixture
def start(api: APIClient) -> Callable[..., dict[str, Any]]:
    """start(graph, input=None, client=api, **body) -> the 201 body of POST /api/sessions/."""

    def do(
        graph: str,
        input: dict[str, Any] | None = None,
        *,
        client: APIClient | None = None,
        **body: Any,
    ) -> dict[str, Any]:
        payload = {"graph": graph, "input": input or {}, **body}
        response = (client or api).post("/api/sessions/", payload, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return do


@pytest.fixture
def stored_threads(yamlgraph_settings: dict[str, Any]) -> Callable[[], set[str]]:
    """stored_threads() -> thread ids that have rows in the SQLite checkpoint file."""
    path = Path(yamlgraph_settings["DEFAULT_CHECKPOINTER"]["path"])

    def read() -> set[str]:
        if not path.exists():
            return set()
        with closing(sqlite3.connect(path)) as conn:
            rows = conn.execute(
                "SELECT thread_id FROM checkpoints UNION SELECT thread_id FROM writes"
            ).fetchall()
        return {row[0] for row in rows}

    return read
