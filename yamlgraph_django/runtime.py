"""Per-process caches of parsed configs, compiled graphs and checkpointer savers.

Only the session service uses this module. Compiling a graph and opening a saver (a
SQLite file, a Redis or Postgres connection) cost far more than running one step, so
each process does them once:

- parsed configs come from `registry.config_for` (cached there);
- savers are keyed by the effective checkpointer config, so every graph stored in the
  same place shares one saver (and one connection pool);
- compiled apps are keyed by (pk, checksum, path, effective checkpointer config): a
  definition row never changes its source, and the checksum keeps a reused pk (rolled
  back test transactions on SQLite) from serving another graph's app.

Everything is guarded by one lock: creation is rare and may be slow (connecting to a
server), and two threads must never open two savers for one store.
`clear_caches()` runs when the YAMLGRAPH setting changes and closes the savers.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from yamlgraph_django.conf import app_settings

if TYPE_CHECKING:
    from yamlgraph.config import GraphConfig
    from yamlgraph_django.models import GraphDefinition

logger = logging.getLogger("yamlgraph_django.runtime")

_lock = threading.RLock()
_savers: dict[str, Any] = {}
_apps: dict[tuple[int, str, str, str], Any] = {}
_llm_factory_applied: list[Any] = []  # the factory last handed to the engine, if any


def _plain(value: Any) -> Any:
    """`value` with Path objects (and other PathLikes) as strings, recursively.

    Settings commonly hold `BASE_DIR / "checkpoints.sqlite3"`; the storage factory and
    the cache key both want plain JSON-like data.
    """
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _key(checkpointer: dict[str, Any] | str) -> str:
    return json.dumps(checkpointer, sort_keys=True, default=str)


def graph_config(definition: GraphDefinition) -> GraphConfig:
    """The validated config of one stored graph version, parsed from its stored source."""
    from yamlgraph_django import registry

    return registry.config_for(definition)


def effective_checkpointer(
    definition: GraphDefinition,
) -> tuple[dict[str, Any] | str, str | None]:
    """(checkpointer config, file it came from) that sessions of `definition` use.

    CHECKPOINTER_OVERRIDE wins (operators choose storage per deploy), then the graph's
    own `checkpointer:` block, then DEFAULT_CHECKPOINTER. Only the graph's own block
    has a source file; its relative paths are resolved against that file by storage.
    """
    override = app_settings.CHECKPOINTER_OVERRIDE
    if override:
        return _plain(override), None
    own = graph_config(definition).checkpointer
    if own:
        return _plain(own), definition.path or None
    return _plain(app_settings.DEFAULT_CHECKPOINTER), None


def get_saver(checkpointer: dict[str, Any] | str, source: str | None = None) -> Any:
    """The process's saver for one checkpointer config, opened on first use.

    Raises the storage errors unchanged (CheckpointerUnavailable when a server is down,
    CheckpointerConfigError for a bad block); a failed open is not cached, so the next
    call tries again.
    """
    key = _key(checkpointer)
    saver = _savers.get(key)
    if saver is not None:
        return saver
    from yamlgraph.storage import get_checkpointer

    with _lock:
        saver = _savers.get(key)
        if saver is None:
            saver = get_checkpointer(checkpointer, source=source)
            _savers[key] = saver
    return saver


def saver_for(definition: GraphDefinition) -> Any:
    """The saver holding the checkpoints of sessions on `definition`."""
    checkpointer, source = effective_checkpointer(definition)
    return get_saver(checkpointer, source)


def get_app(definition: GraphDefinition) -> Any:
    """The compiled LangGraph app for one stored graph version, with its saver."""
    checkpointer, source = effective_checkpointer(definition)
    key = (definition.pk, definition.checksum, definition.path, _key(checkpointer))
    app = _apps.get(key)
    if app is not None:
        return app
    from yamlgraph.graph_loader import compile_graph

    with _lock:
        app = _apps.get(key)
        if app is None:
            _apply_llm_factory()
            saver = get_saver(checkpointer, source)
            app = compile_graph(graph_config(definition)).compile(checkpointer=saver)
            _apps[key] = app
    return app


def _apply_llm_factory() -> None:
    """Hand YAMLGRAPH["LLM_FACTORY"] to the engine before the first graph compiles.

    The engine's model factory is process-wide; setting it only when the setting names
    one leaves a factory installed by other code (or a test) alone.
    """
    factory = app_settings.LLM_FACTORY
    if factory is None or (_llm_factory_applied and _llm_factory_applied[0] is factory):
        return
    from yamlgraph.llm import set_model_factory

    set_model_factory(factory)
    _llm_factory_applied[:] = [factory]


def clear_caches() -> None:
    """Drop compiled graphs and parsed configs and close cached savers.

    Called when YAMLGRAPH changes (another checkpointer, another model factory), and
    by tests that need a fresh process state. A saver that fails to close is logged,
    not raised: the caches must be empty afterwards either way.
    """
    with _lock:
        savers = list(_savers.values())
        _savers.clear()
        _apps.clear()
        if _llm_factory_applied:
            # Undo what we installed, so a removed LLM_FACTORY setting stops applying.
            from yamlgraph.llm import get_model_factory, set_model_factory

            if get_model_factory() is _llm_factory_applied[0]:
                set_model_factory(None)
            _llm_factory_applied.clear()
    if not savers:
        return
    from yamlgraph.storage import close_checkpointer

    for saver in savers:
        try:
            close_checkpointer(saver)
        except Exception:  # closing is best effort
            logger.warning("could not close checkpointer %r", saver, exc_info=True)
