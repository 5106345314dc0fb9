"""Fixtures for the protocol tests: a live server with the example graphs registered,
users with DRF tokens, and LangGraph's own SDK clients pointed at `<live server>/lg`.

The clients are the real `langgraph_sdk` ones (sync and async), sending the token the
way a script would (`headers={"Authorization": "Token ..."}`), and never reading
LANGSMITH_API_KEY from the environment (`api_key=None`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langgraph_sdk import get_client, get_sync_client
from rest_framework.authtoken.models import Token

from tests.django.api import conftest as api_fixtures
from yamlgraph_django.models import GraphDefinition


@pytest.fixture
def graphs(
    transactional_db: None, register_graphs: Callable[..., dict[str, GraphDefinition]]
) -> dict[str, GraphDefinition]:
    """The example graphs (interview, approval, ...) plus `pair`, registered."""
    return register_graphs()


@pytest.fixture
def lg_url(live_server: Any, graphs: Any) -> str:
    """The protocol's base URL on the live server."""
    return f"{live_server.url}/lg"


@pytest.fixture
def token_of() -> Callable[[Any], str]:
    def key(user: Any) -> str:
        return Token.objects.get_or_create(user=user)[0].key

    return key


# The API tests' users, alice and bob (DRF tokens made on demand by `token_of`).
alice = api_fixtures.alice
bob = api_fixtures.bob


@pytest.fixture
def sync_client_for(lg_url: str, token_of: Callable[[Any], str]) -> Callable[..., Any]:
    """sync_client_for(user, scheme="Token") -> a langgraph_sdk sync client for `user`."""

    def make(user: Any, scheme: str = "Token") -> Any:
        headers = {"Authorization": f"{scheme} {token_of(user)}"}
        return get_sync_client(url=lg_url, api_key=None, headers=headers)

    return make


@pytest.fixture
def async_sdk(alice: Any, lg_url: str, token_of: Callable[[Any], str]) -> Any:
    """Alice's async client, sending her token as `Bearer` (made outside the event loop:
    reading the token is a database query)."""
    headers = {"Authorization": f"Bearer {token_of(alice)}"}
    return get_client(url=lg_url, api_key=None, headers=headers)


@pytest.fixture
def sdk(alice: Any, sync_client_for: Callable[..., Any]) -> Any:
    """Alice's sync client."""
    return sync_client_for(alice)
