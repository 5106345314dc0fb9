"""The checkpoint stores: per-process savers and compiled graphs, and the outage policy.

Compiling a graph and opening a saver (a SQLite file, a Redis or Postgres connection)
cost far more than running one step, so each process does them once:

- savers are keyed by the effective checkpointer config, so every graph stored in the
  same place shares one saver (and one connection pool);
- compiled apps are keyed by (pk, checksum, path, effective checkpointer config): a
  definition row never changes its source, and the checksum keeps a reused pk (rolled
  back test transactions on SQLite) from serving another graph's app.

`store_errors()` is the one place where a store's own errors become
CheckpointerUnavailable (503): every service call that touches a store runs inside it.
The caches are cleared (savers closed) when the YAMLGRAPH setting changes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from django.core.signals import setting_changed

from yamlgraph_django import registry
from yamlgraph_django.conf import SETTING_NAME, app_settings
from yamlgraph_django.exceptions import CheckpointerUnavailable

if TYPE_CHECKING:
    from yamlgraph.config import GraphConfig
    from yamlgraph_django.models import GraphDefinition

logger = logging.getLogger("yamlgraph_django.services")

_lock = threading.RLock()
_savers: dict[str, Any] = {}
_apps: dict[tuple[int, str, str, str], Any] = {}
_llm_factory_applied: list[Any] = []  # the factory last handed to the engine, if any


# --------------------------------------------------------------------------- outages


def is_outage(exc: BaseException) -> bool:
    """Is `exc` the checkpoint store being unreachable (as opposed to a graph bug)?

    Those leave the session as it was and answer 503, because the same request works
    once the server is back. Which errors those are is the storage layer's knowledge.
    """
    from yamlgraph.storage import is_store_outage

    return isinstance(exc, CheckpointerUnavailable) or is_store_outage(exc)


def unavailable(exc: BaseException) -> CheckpointerUnavailable:
    """The app's 503 error for a storage outage, keeping the storage message."""
    if isinstance(exc, CheckpointerUnavailable):
        return exc
    return CheckpointerUnavailable(f"The checkpoint store is unavailable: {exc}")


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """Run a block that talks to a store: an outage leaves as CheckpointerUnavailable,
    anything else (a graph bug) unchanged."""
    try:
        yield
    except CheckpointerUnavailable:
        raise
    except Exception as exc:
        if is_outage(exc):
            from yamlgraph_django import metrics

            metrics.store_error("checkpointer")
            raise unavailable(exc) from exc
        raise


# --------------------------------------------------------------------------- caches


def _plain(value: Any) -> Any:
    """`value` with Path objects (and other PathLikes) as strings, recursively."""
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
    """The validated config of one stored graph version (parsed once, by the registry)."""
    return registry.config_for(definition)


def effective_checkpointer(
    definition: GraphDefinition,
) -> tuple[dict[str, Any] | str, str | None]:
    """(checkpointer config, file it came from) that sessions of `definition` use.

    CHECKPOINTER_OVERRIDE wins (operators choose storage per deploy), then the graph's
    own `checkpointer:` block, then DEFAULT_CHECKPOINTER.
    """
    override = app_settings.CHECKPOINTER_OVERRIDE
    if override:
        return _plain(override), None
    own = graph_config(definition).checkpointer
    if own:
        return _plain(own), definition.path or None
    return _plain(app_settings.DEFAULT_CHECKPOINTER), None


def default_checkpointer() -> dict[str, Any] | str:
    """The checkpointer config in effect for graphs without their own block:
    CHECKPOINTER_OVERRIDE, else DEFAULT_CHECKPOINTER (what the health check asks)."""
    return _plain(app_settings.CHECKPOINTER_OVERRIDE or app_settings.DEFAULT_CHECKPOINTER)


def checkpointer_type(definition: GraphDefinition) -> str:
    """The type of store a graph's sessions use (never its url: it may hold a password)."""
    from yamlgraph.storage import checkpointer_type as type_of

    return type_of(effective_checkpointer(definition)[0])


def get_saver(checkpointer: dict[str, Any] | str, source: str | None = None) -> Any:
    """The process's saver for one checkpointer config, opened on first use (a failed
    open is not cached: the next call tries again)."""
    key = _key(checkpointer)
    saver = _savers.get(key)
    if saver is not None:
        return saver
    from yamlgraph.storage import get_checkpointer

    with _lock, store_errors():
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
            _apply_websearch_function()
            saver = get_saver(checkpointer, source)
            from yamlgraph_django.services.store import get_store

            app = compile_graph(graph_config(definition)).compile(
                checkpointer=saver, store=get_store()
            )
            _apps[key] = app
    return app


def _apply_websearch_function() -> None:
    """Hand YAMLGRAPH["WEBSEARCH_FUNCTION"] to the engine's websearch tools (when set: a
    function installed by other code is left alone otherwise)."""
    function = app_settings.WEBSEARCH_FUNCTION
    if function is not None:
        from yamlgraph.websearch import set_search_function

        set_search_function(function)


def _apply_llm_factory() -> None:
    """Hand YAMLGRAPH["LLM_FACTORY"] to the engine before the first graph compiles,
    leaving a factory installed by other code alone when the setting names none."""
    factory = app_settings.LLM_FACTORY
    if factory is None or (_llm_factory_applied and _llm_factory_applied[0] is factory):
        return
    from yamlgraph.llm import set_model_factory

    set_model_factory(factory)
    _llm_factory_applied[:] = [factory]


def clear_caches() -> None:
    """Drop compiled graphs and close cached savers (a saver failing to close is logged:
    the caches are empty afterwards either way)."""
    with _lock:
        savers = list(_savers.values())
        _savers.clear()
        _apps.clear()
        if _llm_factory_applied:
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


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        clear_caches()


setting_changed.connect(_on_setting_changed)
