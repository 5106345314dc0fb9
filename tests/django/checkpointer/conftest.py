"""Fixtures for the `django` checkpointer tests.

They run on the pytest-django test database: SQLite by default, Postgres when
DATABASE_URL is set. Tests that run graphs or async code use
``django_db(transaction=True)``: LangGraph saves checkpoints from worker threads
and the async methods run in Django's sync thread, and each thread has its own
connection, which would not see (or would lock against) rows inside a test's
rolled-back transaction.

- ``saver``: a DjangoSaver on the ``default`` alias.
- ``shared_database``: settings of a database another process can open with
  ``DJANGO_SETTINGS_MODULE=tests.django.checkpointer.subprocess_settings``: the
  test database itself (or a migrated file if it is an in-memory SQLite one).
- ``run_in_process``: runs ``tests/django/checkpointer/run_graph.py`` in a fresh
  interpreter against ``shared_database``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from django.db import connections

from yamlgraph_django.checkpointer import DjangoSaver

REPO = Path(__file__).resolve().parents[3]
SUBPROCESS_SETTINGS = "tests.django.checkpointer.subprocess_settings"
#: Environment variable carrying the database settings to subprocess_settings.
DATABASE_ENV = "YAMLGRAPH_TEST_DATABASE"


@pytest.fixture(autouse=True)
def _close_sync_thread_connections() -> Iterator[None]:
    """Close the connections async tests opened in asgiref's shared sync thread.

    Outside an async_to_sync() call, ``sync_to_async`` runs thread-sensitive
    code in one process-wide thread, and its connections outlive the test;
    left open, they keep the Postgres test database from being dropped.
    """
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture
def saver() -> DjangoSaver:
    return DjangoSaver()


def _subprocess_env(database: dict[str, Any]) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DJANGO_SETTINGS_MODULE": SUBPROCESS_SETTINGS,
        DATABASE_ENV: json.dumps(database),
    }


@pytest.fixture
def shared_database(transactional_db: None, tmp_path: Path) -> dict[str, Any]:
    """Database settings (ENGINE, NAME, ...) that a subprocess can use too.

    Normally the test database itself (a file on SQLite, see the root
    conftest). transactional_db commits what the subprocesses write, so this
    process sees it, and empties the tables afterwards. Only an in-memory
    SQLite test database, which no other process can open, is replaced by a
    file migrated here. Tests using this fixture need the django_db mark:
    pytest-django sets up the test database only for marked tests.
    """
    connection = connections["default"]
    settings = connection.settings_dict
    if connection.vendor == "sqlite" and connection.creation.is_in_memory_db(settings["NAME"]):
        database = {"ENGINE": settings["ENGINE"], "NAME": str(tmp_path / "shared.sqlite3")}
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=REPO,
            env=_subprocess_env(database),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrate.returncode == 0, f"migrate failed:\n{migrate.stderr}"
        return database
    keys = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")
    return {key: settings[key] for key in keys if settings.get(key) not in (None, "")}


@pytest.fixture
def run_in_process(shared_database: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    """run_in_process(*args) -> the JSON line run_graph.py printed last."""

    def run(*args: str) -> dict[str, Any]:
        proc = subprocess.run(
            [sys.executable, "-m", "tests.django.checkpointer.run_graph", *args],
            cwd=REPO,
            env=_subprocess_env(shared_database),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"graph process failed:\n{proc.stderr}"
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return run
