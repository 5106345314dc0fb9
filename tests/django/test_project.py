"""The reference project: URLs, settings, the demo login and the `make run` steps."""

from __future__ import annotations

import importlib.machinery
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import django
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from project.urls import module_exists

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- URLs


def test_root_redirects_to_the_admin(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


@pytest.mark.django_db
def test_admin_login_page_is_served(client):
    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert b"password" in response.content.lower()


def test_module_exists_copes_with_missing_parent_packages():
    assert module_exists("yamlgraph_django.registry")
    assert not module_exists("yamlgraph_django.no_such_module")
    assert not module_exists("yamlgraph_django.no_such_package.urls")


def test_api_is_mounted_exactly_when_the_app_ships_it():
    from project.urls import urlpatterns

    mounted = any(str(p.pattern) == "api/" for p in urlpatterns)
    assert mounted == module_exists("yamlgraph_django.api.urls")


# --------------------------------------------------------------------------- app config


def test_runserver_restarts_when_a_graph_file_changes(yamlgraph_settings, graph_dir):
    from yamlgraph_django.apps import _watch_graph_dirs

    class Reloader:
        watched: list[tuple[Path, str]] = []

        def watch_dir(self, path: Path, glob: str) -> None:
            self.watched.append((path, glob))

    reloader = Reloader()
    _watch_graph_dirs(reloader)

    assert reloader.watched == [
        (graph_dir.resolve(), "**/*.yaml"),
        (graph_dir.resolve(), "**/*.yml"),
    ]


def test_the_django_checkpointer_type_is_registered_when_its_module_provides_it(monkeypatch):
    import types

    from yamlgraph import storage
    from yamlgraph_django import apps as app_module

    previous = dict(storage._REGISTRY)
    try:
        monkeypatch.setattr(app_module, "CHECKPOINTER_MODULE", "yamlgraph_django.no_such_module")
        assert app_module.register_django_checkpointer() is False

        unfinished = types.ModuleType("fake_unfinished_checkpointer")
        monkeypatch.setitem(sys.modules, unfinished.__name__, unfinished)
        unfinished.__spec__ = importlib.machinery.ModuleSpec(unfinished.__name__, None)
        monkeypatch.setattr(app_module, "CHECKPOINTER_MODULE", unfinished.__name__)
        storage._REGISTRY.pop("django", None)
        assert app_module.register_django_checkpointer() is False
        assert "django" not in storage.checkpointer_types()

        unfinished.sync_factory = unfinished.async_factory = lambda config: None
        assert app_module.register_django_checkpointer() is True
        assert "django" in storage.checkpointer_types()
    finally:
        storage._REGISTRY.clear()
        storage._REGISTRY.update(previous)


# --------------------------------------------------------------------------- settings


def test_background_runs_go_to_a_database_queue_by_default_and_rq_by_one_variable(monkeypatch):
    monkeypatch.delenv("YAMLGRAPH_TASKS_URL", raising=False)
    values = load_settings(monkeypatch)
    assert values["TASKS"]["default"]["BACKEND"] == "django_tasks_db.DatabaseBackend"
    assert "django_tasks_db" in values["INSTALLED_APPS"]
    assert ("django_tasks" in values["INSTALLED_APPS"]) == (django.VERSION < (6, 0))

    values = load_settings(monkeypatch, YAMLGRAPH_TASKS_URL="redis://127.0.0.1:1/0")
    assert values["TASKS"]["default"]["BACKEND"] == "django_tasks_rq.RQBackend"
    assert values["RQ_QUEUES"]["default"]["URL"] == "redis://127.0.0.1:1/0"
    assert "django_rq" in values["INSTALLED_APPS"]


def load_settings(monkeypatch, **env: str) -> dict:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(ROOT / "project" / "settings.py"))


def test_default_storage_is_sqlite_files_in_the_project(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("YAMLGRAPH_CHECKPOINTER_URL", raising=False)
    values = load_settings(monkeypatch)

    assert values["DATABASES"]["default"]["NAME"] == str(ROOT / "db.sqlite3")
    assert values["YAMLGRAPH"]["DEFAULT_CHECKPOINTER"] == {
        "type": "sqlite",
        "path": str(ROOT / "checkpoints.sqlite3"),
    }
    assert "CHECKPOINTER_OVERRIDE" not in values["YAMLGRAPH"]


def test_database_connections_persist_with_health_checks(monkeypatch):
    """Each worker keeps its connection (SQLite too: no reopen and WAL init per request),
    checked before a request reuses it; DJANGO_CONN_MAX_AGE=0 closes it after each."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DJANGO_CONN_MAX_AGE", raising=False)
    default = load_settings(monkeypatch)["DATABASES"]["default"]
    assert (default["CONN_MAX_AGE"], default["CONN_HEALTH_CHECKS"]) == (600, True)
    assert default["OPTIONS"]["init_command"].startswith("PRAGMA journal_mode=WAL")

    closing = load_settings(monkeypatch, DJANGO_CONN_MAX_AGE="0")["DATABASES"]["default"]
    assert closing["CONN_MAX_AGE"] == 0


@pytest.mark.parametrize(
    ("url", "kind"),
    [("redis://:pw@cache:6379/0", "redis"), ("postgresql://u:pw@db/cp", "postgres")],
)
def test_checkpointer_url_env_overrides_storage_without_leaking_the_password(
    monkeypatch, url, kind
):
    values = load_settings(monkeypatch, YAMLGRAPH_CHECKPOINTER_URL=url)

    assert values["YAMLGRAPH"]["CHECKPOINTER_OVERRIDE"] == {
        "type": kind,
        "url": "${YAMLGRAPH_CHECKPOINTER_URL}",
    }


def test_checkpointer_url_env_with_an_unknown_scheme_fails_at_startup(monkeypatch):
    with pytest.raises(ValueError, match="YAMLGRAPH_CHECKPOINTER_URL must start with"):
        load_settings(monkeypatch, YAMLGRAPH_CHECKPOINTER_URL="mysql://db/x")


# --------------------------------------------------------------------------- demo login


@pytest.mark.django_db
def test_demo_superuser_is_created_once_and_the_login_is_printed(capsys):
    with override_settings(DEBUG=True):
        call_command("ensure_demo_superuser")
    out = capsys.readouterr().out

    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser and user.is_staff and user.check_password("admin")
    assert "http://127.0.0.1:8000/admin/" in out
    assert "user:     admin" in out and "password: admin" in out
    assert "local demo only" in out

    with override_settings(DEBUG=True):
        call_command("ensure_demo_superuser")
    again = capsys.readouterr().out
    assert get_user_model().objects.count() == 1
    assert "Created" not in again
    assert "password: admin" in again  # still tells how to log in


@pytest.mark.django_db
def test_demo_superuser_leaves_an_existing_superuser_alone(capsys):
    get_user_model().objects.create_superuser("boss", "", "a-real-password")

    with override_settings(DEBUG=True):
        call_command("ensure_demo_superuser")
    out = capsys.readouterr().out

    assert not get_user_model().objects.filter(username="admin").exists()
    assert "user:     boss" in out
    assert "a-real-password" not in out and "password: admin" not in out


@pytest.mark.django_db
def test_demo_superuser_refuses_without_debug_unless_forced(capsys):
    with override_settings(DEBUG=False):
        with pytest.raises(CommandError, match="DEBUG is False"):
            call_command("ensure_demo_superuser")
        assert not get_user_model().objects.exists()

        call_command("ensure_demo_superuser", "--force")
    assert get_user_model().objects.filter(username="admin", is_superuser=True).exists()


# --------------------------------------------------------------------------- make run


def make_run_recipe() -> list[str]:
    lines = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n")[1:]
    recipe = []
    for line in lines:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def make_run_steps() -> list[list[str]]:
    """The `manage.py` argument lists of the Makefile's `run` recipe before it starts
    its processes, in order."""
    steps = []
    for line in make_run_recipe():
        words = line.split()
        if words[:2] != ["$(PY)", "manage.py"]:
            break
        steps.append(words[2:])
    return steps


RUN_STEPS = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
from django.core.management import execute_from_command_line
for argv in json.loads(sys.argv[1]):
    print("$ manage.py", *argv, flush=True)
    execute_from_command_line(["manage.py", *argv])
"""


def test_make_run_serves_asgi_on_loopback_port_8000_beside_one_worker():
    served = " ".join(make_run_recipe()[len(make_run_steps()) :])
    assert "trap 'kill 0' INT TERM EXIT" in served  # Ctrl-C stops both
    assert "$(PY) manage.py yamlgraph worker &" in served
    assert "-m uvicorn project.asgi:application --host 127.0.0.1 --port $${PORT:-8000}" in served
    assert "--workers $${WORKERS:-$$(nproc)}" in served  # a process per core


def test_make_run_steps_work_on_a_fresh_database(tmp_path):
    """Every step of `make run` before the server (migrate with its system checks, sync,
    demo user), run as the Makefile runs them, on a new SQLite file."""
    steps = make_run_steps()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_DEBUG": "1",
    }
    env.pop("YAMLGRAPH_CHECKPOINTER_URL", None)

    result = subprocess.run(
        [sys.executable, "-c", RUN_STEPS, json.dumps(steps)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Applying yamlgraph_django.0001_initial... OK" in result.stdout
    assert "interview" in result.stdout  # the sync step reports the example graphs
    assert "password: admin" in result.stdout
