"""Fixtures for the admin tests: people with different permissions, and real sessions.

Sessions are started through the session service on the example graphs with a real
SQLite checkpoint file (`yamlgraph_settings`), so every page reads real checkpoints and
every button really runs the graph.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from yamlgraph_django import services
from yamlgraph_django.models import GraphDefinition, Session


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    """Logins use force_login; hashing test passwords with PBKDF2 only costs time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def staff_with(django_user_model: Any, username: str, *codenames: str) -> Any:
    """A staff user holding exactly these yamlgraph_django permissions."""
    user = django_user_model.objects.create_user(username, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="yamlgraph_django", codename__in=codenames
        )
    )
    return user


@pytest.fixture
def graphs(synced_graphs: dict[str, GraphDefinition]) -> dict[str, GraphDefinition]:
    return synced_graphs


@pytest.fixture
def viewer(db: None, django_user_model: Any) -> Any:
    """Staff who may look at graphs and sessions but change nothing."""
    return staff_with(django_user_model, "viewer", "view_session", "view_graphdefinition")


@pytest.fixture
def viewer_client(viewer: Any) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


@pytest.fixture
def operator(db: None, django_user_model: Any) -> Any:
    """Staff who may cancel and delete sessions but not answer them (no resume_session)."""
    return staff_with(
        django_user_model,
        "operator",
        "view_session",
        "change_session",
        "delete_session",
        "view_graphdefinition",
    )


@pytest.fixture
def operator_client(operator: Any) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def start(graphs: dict[str, GraphDefinition]) -> Callable[..., Session]:
    """start(graph="interview", input=None, **kwargs) -> a session started by the service."""

    def run(graph: str = "interview", input: dict | None = None, **kwargs: Any) -> Session:
        return services.start_session(graph, input, **kwargs)

    return run


@pytest.fixture
def checkpoint_file(yamlgraph_settings: dict[str, Any]) -> Path:
    return Path(yamlgraph_settings["DEFAULT_CHECKPOINTER"]["path"])


@pytest.fixture
def stored_threads(checkpoint_file: Path) -> Callable[[], set[str]]:
    """stored_threads() -> thread ids that have rows in the SQLite checkpoint file."""

    def read() -> set[str]:
        if not checkpoint_file.exists():
            return set()
        with sqlite3.connect(checkpoint_file) as conn:
            rows = conn.execute(
                "SELECT thread_id FROM checkpoints UNION SELECT thread_id FROM writes"
            ).fetchall()
        return {row[0] for row in rows}

    return read


def messages_of(response: Any) -> list[str]:
    """The admin messages a person sees: those rendered on the page a redirect led to
    (`follow=True`), or those queued by a response that was not followed."""
    context = getattr(response, "context", None)
    if context is not None and "messages" in context:
        return [str(message) for message in context["messages"]]
    return [str(message) for message in get_messages(response.wsgi_request)]


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:yamlgraph_django_{name}", args=args)
