"""Fixtures for the admin tests: people with different permissions, and real sessions.

Sessions are started through the session service on the example graphs with a real
SQLite checkpoint file (`yamlgraph_settings`), so every page reads real checkpoints and
every button really runs the graph. `make_user` and `stored_threads` are in
tests/django/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from yamlgraph_django import services
from yamlgraph_django.models import GraphDefinition, Session


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    """Logins use force_login; hashing test passwords with PBKDF2 only costs time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def logged_in(user: Any) -> Client:
    """A test client with `user` logged in."""
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def graphs(synced_graphs: dict[str, GraphDefinition]) -> dict[str, GraphDefinition]:
    return synced_graphs


@pytest.fixture
def viewer(db: None, make_user: Callable[..., Any]) -> Any:
    """Staff who may look at graphs and sessions but change nothing."""
    return make_user("viewer", staff=True, perms=("view_session", "view_graphdefinition"))


@pytest.fixture
def viewer_client(viewer: Any) -> Client:
    return logged_in(viewer)


@pytest.fixture
def operator(db: None, make_user: Callable[..., Any]) -> Any:
    """Staff who may cancel and delete sessions but not answer them (no resume_session)."""
    return make_user(
        "operator",
        staff=True,
        perms=("view_session", "change_session", "delete_session", "view_graphdefinition"),
    )


@pytest.fixture
def operator_client(operator: Any) -> Client:
    return logged_in(operator)


@pytest.fixture
def start(graphs: dict[str, GraphDefinition]) -> Callable[..., Session]:
    """start(graph="interview", input=None, **kwargs) -> a session started by the service."""

    def run(graph: str = "interview", input: dict | None = None, **kwargs: Any) -> Session:
        return services.start_session(graph, input, **kwargs)

    return run


def messages_of(response: Any) -> list[str]:
    """The admin messages a person sees: those rendered on the page a redirect led to
    (`follow=True`), or those queued by a response that was not followed."""
    context = getattr(response, "context", None)
    if context is not None and "messages" in context:
        return [str(message) for message in context["messages"]]
    return [str(message) for message in get_messages(response.wsgi_request)]


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:yamlgraph_django_{name}", args=args)
