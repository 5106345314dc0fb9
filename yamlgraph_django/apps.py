"""App config: registers the system checks, the `django` checkpointer type and the
webhook receiver of the session signals.

Deliberately no database access here (Django warns about queries during app loading,
and the tables may not exist before `migrate`): graphs are synced lazily on first use,
see `yamlgraph_django.registry.ensure_synced`.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from django.apps import AppConfig

#: Optional module providing `sync_factory(config)` and `async_factory(config)` for
#: `checkpointer: {type: django}`; registered when present.
CHECKPOINTER_MODULE = "yamlgraph_django.checkpointer"


class YamlgraphConfig(AppConfig):
    name = "yamlgraph_django"
    label = "yamlgraph_django"
    verbose_name = "YAML graphs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from yamlgraph_django import (
            checks,  # noqa: F401 - registers the checks
            logging_context,
            metrics,
        )
        from yamlgraph_django.api import authentication
        from yamlgraph_django.services import deadlines, notifications

        register_django_checkpointer()
        load_node_types()
        notifications.connect()
        metrics.connect()
        logging_context.install()
        deadlines.connect()
        authentication.connect_signals()
        _watch_graph_dirs_in_runserver()
        _hint_at_workers_in_runserver()


def register_django_checkpointer() -> bool:
    """Make `type: django` available when the ORM saver module exists; True if registered.

    The module is optional (and may be a package still being built), so a module
    without both factories is skipped; `type: django` then stays unknown and the
    `yamlgraph.E003` check says so.
    """
    if importlib.util.find_spec(CHECKPOINTER_MODULE) is None:
        return False
    module = importlib.import_module(CHECKPOINTER_MODULE)
    sync_factory = getattr(module, "sync_factory", None)
    async_factory = getattr(module, "async_factory", None)
    if not (callable(sync_factory) and callable(async_factory)):
        return False
    from yamlgraph.storage import register_checkpointer

    register_checkpointer("django", sync_factory, async_factory)
    return True


def load_node_types() -> list[str]:
    """Import the modules of YAMLGRAPH["NODE_TYPES"], which register the project's own
    node types, before any graph is validated; returns the modules imported."""
    from yamlgraph_django.conf import app_settings

    modules = [str(name) for name in app_settings.NODE_TYPES or ()]
    for module in modules:
        importlib.import_module(module)
    return modules


def _hint_at_workers_in_runserver() -> None:
    """`runserver` says how to start a worker when none is alive (after startup, from
    a thread: no query while apps load)."""
    import sys

    from yamlgraph_django import startup

    if startup.is_runserver(sys.argv):
        startup.say_when_no_worker()


def _watch_graph_dirs_in_runserver() -> None:
    """Restart `runserver` when a graph file changes, so the new version gets registered."""
    from django.utils.autoreload import autoreload_started

    autoreload_started.connect(_watch_graph_dirs, dispatch_uid="yamlgraph_watch_graph_dirs")


def _watch_graph_dirs(sender: Any, **kwargs: Any) -> None:
    from yamlgraph_django.registry import graph_dirs

    for directory in graph_dirs():
        if directory.is_dir():
            sender.watch_dir(directory.resolve(), "**/*.yaml")
            sender.watch_dir(directory.resolve(), "**/*.yml")
