"""`type: websearch` tools: yamlgraph's web search, with the search function a setting.

yamlgraph 0.6 searches DuckDuckGo itself; here the network is the project's choice, so
a websearch tool calls a *search function* the deployment names:

    search(query: str, *, max_results: int, provider: str) -> list | str | dict

set with set_search_function() (a callable or a dotted path), the
YAMLGRAPH_WEBSEARCH_FUNCTION environment variable (a dotted path), or in Django
YAMLGRAPH["WEBSEARCH_FUNCTION"]. Graphs with websearch tools always load and validate;
a run that calls one while none is set fails that node with an error naming the
setting (WebsearchNotConfigured), and so does a dotted path that does not import.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from typing import Any

#: The environment variable holding a dotted path, for runs without Django.
ENVIRONMENT_VARIABLE = "YAMLGRAPH_WEBSEARCH_FUNCTION"
#: How the error names the setting.
SETTING_HINT = (
    "YAMLGRAPH['WEBSEARCH_FUNCTION'] (Django) or the YAMLGRAPH_WEBSEARCH_FUNCTION "
    "environment variable to the dotted path of a function "
    "search(query, *, max_results, provider)"
)
PROVIDERS_DEFAULT = "duckduckgo"
MAX_RESULTS_DEFAULT = 5
#: The keys a websearch tool takes (yamlgraph's graph-yaml.md).
TOOL_KEYS = frozenset({"type", "provider", "max_results", "description"})

SearchFunction = Callable[..., Any]

_lock = threading.Lock()
_configured: list[SearchFunction | str] = []


class WebsearchNotConfigured(RuntimeError):
    """A websearch tool ran without a usable search function; the message names the setting.

    Not a tool failure to report to the model: the run cannot search at all, so the
    node fails.
    """


def set_search_function(function: SearchFunction | str | None) -> None:
    """Use `function` (a callable or a dotted path, resolved at first search) for every
    websearch tool; None goes back to the environment variable."""
    with _lock:
        _configured[:] = [] if function is None else [function]


def search_function(tool_name: str) -> SearchFunction:
    """The configured search function, or WebsearchNotConfigured naming the setting."""
    with _lock:
        configured = _configured[0] if _configured else None
    if configured is None:
        configured = os.environ.get(ENVIRONMENT_VARIABLE) or None
    if configured is None:
        raise WebsearchNotConfigured(
            f"websearch tool '{tool_name}' has no search function: set {SETTING_HINT}"
        )
    if callable(configured):
        return configured
    module, _, name = str(configured).rpartition(".")
    try:
        function = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise WebsearchNotConfigured(
            f"websearch tool '{tool_name}': the search function {configured!r} cannot be "
            f"imported ({exc}); set {SETTING_HINT}"
        ) from exc
    if not callable(function):
        raise WebsearchNotConfigured(
            f"websearch tool '{tool_name}': {configured!r} is not callable; set {SETTING_HINT}"
        )
    return function


def check_tool(spec: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Problems of a websearch tool's keys as (key or None, message); connects nowhere."""
    problems: list[tuple[str | None, str]] = []
    provider = spec.get("provider", PROVIDERS_DEFAULT)
    if not isinstance(provider, str) or not provider.strip():
        problems.append(("provider", "must be the name of a search provider (a string)"))
    count = spec.get("max_results", MAX_RESULTS_DEFAULT)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        problems.append(("max_results", "must be a positive whole number"))
    return problems


def run_search(tool_name: str, provider: str, max_results: int, arguments: dict[str, Any]) -> Any:
    """Search for the model's `query` with the configured function."""
    function = search_function(tool_name)
    query = arguments.get("query")
    if not isinstance(query, str) or not query.strip():  # reported to the model
        raise ValueError(f"tool '{tool_name}' needs a non-empty 'query'")
    return function(query, max_results=max_results, provider=provider)
