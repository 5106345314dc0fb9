"""Fixtures for the API tests: users with tokens, clients, and graphs to run.

Every client authenticates the way a script would, with `Authorization: Token ...`
(rest_framework.authtoken). Graphs are the repository's examples plus `pair` (two
questions at once), `checked` (a python node that rejects one answer) and `slow` (half a
second of work after its question, so two requests can overlap), registered
from a temporary copy with checkpoints in a real SQLite file (`register_graphs`,
`yamlgraph_settings`, `make_user` and `stored_threads` are in tests/django/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.django.api.support import token_header
from yamlgraph_django.models import GraphDefinition

SLOW_TOOL = '''
import time


def slow_work(state):
    """Takes a moment, like an LLM call: long enough for a second request to arrive."""
    time.sleep(0.5)
    return {"result": f"worked on {state.get('answer')}"}
'''

SLOW_GRAPH = """
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
"""


@pytest.fixture
def graphs(
    register_graphs: Callable[..., dict[str, GraphDefinition]],
) -> dict[str, GraphDefinition]:
    """interview, approval, support-router, checked, pair and slow, registered."""
    return register_graphs(SLOW_TOOL, {"slow.yaml": SLOW_GRAPH})


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
