"""System checks: broken graphs and storage settings show up in `manage.py check`.

| id | level | what |
|---|---|---|
| yamlgraph.W002 | warning | a graph file does not validate (one message per file, every issue with file:line; its checkpointer block's unknown type or unset `${VAR}` included): the other graphs keep working, so `migrate` and `runserver` start |
| yamlgraph.E001 | error | invalid graph files, all named in one message; only with `check --deploy` (a deployment must not ship a broken file) |
| yamlgraph.E002 | error | DEFAULT_CHECKPOINTER or CHECKPOINTER_OVERRIDE uses an unset `${VAR}` |
| yamlgraph.E003 | error | DEFAULT_CHECKPOINTER or CHECKPOINTER_OVERRIDE names an unknown type (or is malformed) |
| yamlgraph.E004 | error | a Redis/Postgres checkpointer cannot be reached; only with `check --deploy` |
| yamlgraph.E005 | error | a GRAPH_DIRS entry does not exist |
| yamlgraph.E006 | error | two graph files declare the same graph name |
| yamlgraph.E020 | error | YAMLGRAPH["RULES"] names a class that does not import or is not a rulebook policy |
| yamlgraph.E007 | error | a checkpointer, event log or task backend in the settings needs an extra that is not installed (names the `pip install "yamlgraph-django[...]"` line; see `extras.py`) |
| yamlgraph.W001 | warning | a memory checkpointer is in effect while DEBUG is False |
| yamlgraph.E010, E011, W010-W017 | | webhooks, metrics, workers and unsafe settings: see `yamlgraph_django.operations_checks` |

The checks read graph files and settings only; they never touch the database, so they
run before `migrate`. E004 opens network connections, so it is a deploy check: plain
`check` (and every `runserver`/`migrate`) stays fast and works offline.

"In effect" means: CHECKPOINTER_OVERRIDE when it is set (it wins over everything), else
each graph's own `checkpointer:` block and DEFAULT_CHECKPOINTER. A block that an
override replaces is not checked, so an operator's override is never blocked by a
development-only block in a graph file.

Every check also runs with `--tag yamlgraph`. Like all Django errors, these stop
`manage.py` commands that run checks (runserver, migrate); a broken graph file is only a
warning there (the served site skips it and the other graphs keep working), and an
error under `check --deploy`. Silence one with SILENCED_SYSTEM_CHECKS. E010 and W010
read the database (W010 is a deploy check; E010 only reads settings).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from yamlgraph_django.conf import app_settings
from yamlgraph_django.registry import find_graph_files, graph_dirs, read_graph_file

TAG = "yamlgraph"
#: Types whose servers E004 tries to reach.
NETWORK_TYPES = frozenset({"redis", "redis-simple", "postgres"})


@dataclass
class _Block:
    """A checkpointer block in effect and where it comes from (for the messages)."""

    config: Any
    where: str  # "YAMLGRAPH['DEFAULT_CHECKPOINTER']" or a graph file path
    graphs: tuple[str, ...] = ()  # the graphs that use it


def _ours(app_configs: Iterable[Any] | None) -> bool:
    return app_configs is None or any(c.name == "yamlgraph_django" for c in app_configs)


@register(TAG)
def check_graph_dirs(app_configs: Iterable[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """E005: a GRAPH_DIRS entry that does not exist (a typo hides every graph in it)."""
    if not _ours(app_configs):
        return []
    return [
        Error(
            f"graph directory {entry} does not exist",
            hint="Create it, or fix the path in YAMLGRAPH['GRAPH_DIRS'].",
            obj="YAMLGRAPH['GRAPH_DIRS']",
            id="yamlgraph.E005",
        )
        for entry in graph_dirs()
        if not entry.exists()
    ]


@register(TAG)
def check_graph_files(
    app_configs: Iterable[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W002 for each graph file that does not validate (a typo while editing must not
    stop `migrate` or `runserver`), E006 for a name declared twice."""
    if not _ours(app_configs):
        return []
    messages: list[CheckMessage] = []
    names: dict[str, list[Path]] = {}
    for path in find_graph_files():
        graph = read_graph_file(path)
        if graph is None:
            continue
        if graph.config is None:
            issues = "\n".join(f"  {issue}" for issue in graph.issues)
            count = len(graph.issues)
            messages.append(
                Warning(
                    f"invalid graph file ({count} problem{'s' if count != 1 else ''}):\n{issues}",
                    hint="Fix the file; until then it is not registered and the other "
                    "graphs keep working.",
                    obj=str(path),
                    id="yamlgraph.W002",
                )
            )
        else:
            names.setdefault(graph.config.name, []).append(path)
    for name, paths in names.items():
        if len(paths) > 1:
            messages.append(
                Error(
                    f"graph name '{name}' is declared by {len(paths)} files: "
                    + ", ".join(str(p) for p in paths),
                    hint="Give each graph a unique 'name:'; none of these files is "
                    "registered until then.",
                    obj=f"graph '{name}'",
                    id="yamlgraph.E006",
                )
            )
    return messages


@register(TAG, deploy=True)
def check_graph_files_for_deploy(
    app_configs: Iterable[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E001 (deploy only): the invalid graph files, in one message (each one's problems
    are its W002)."""
    if not _ours(app_configs):
        return []
    invalid = [
        path
        for path in find_graph_files()
        if (graph := read_graph_file(path)) is not None and graph.config is None
    ]
    if not invalid:
        return []
    return [
        Error(
            f"{len(invalid)} invalid graph file{'s' if len(invalid) != 1 else ''}: "
            + ", ".join(str(p) for p in invalid),
            hint="A deployment must not ship a broken graph: fix or remove "
            f"{'them' if len(invalid) != 1 else 'it'} (see yamlgraph.W002 for the problems).",
            obj="YAMLGRAPH['GRAPH_DIRS']",
            id="yamlgraph.E001",
        )
    ]


@register(TAG)
def check_checkpointers(
    app_configs: Iterable[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E002 (unset ${VAR}), E003 (unknown type) and W001 (memory in production)."""
    if not _ours(app_configs):
        return []
    messages: list[CheckMessage] = []
    for block, expanded, error in _expanded_blocks():
        if error is not None:
            messages.append(error)
            continue
        if _is_memory(expanded) and not settings.DEBUG:
            used_by = f" (used by {', '.join(block.graphs)})" if block.graphs else ""
            messages.append(
                Warning(
                    f"a memory checkpointer is in effect{used_by} while DEBUG is False: "
                    "sessions are lost on restart and not shared between processes",
                    hint="Use sqlite for one server, redis or postgres for several "
                    "(YAMLGRAPH['DEFAULT_CHECKPOINTER'] or ['CHECKPOINTER_OVERRIDE']).",
                    obj=block.where,
                    id="yamlgraph.W001",
                )
            )
    return messages


@register(TAG, deploy=True)
def check_checkpointer_servers(
    app_configs: Iterable[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E004 (deploy only): each Redis/Postgres checkpointer in effect answers.

    Builds the saver exactly as a session would (which also creates its tables or
    indexes, idempotently) and closes it, so a server without RedisJSON/RediSearch is
    caught here too, not only a wrong host or password.
    """
    if not _ours(app_configs):
        return []
    from yamlgraph.storage import (
        CheckpointerConfigError,
        CheckpointerUnavailable,
        close_checkpointer,
        get_checkpointer,
    )

    messages: list[CheckMessage] = []
    seen: set[str] = set()
    for block, expanded, error in _expanded_blocks():
        if error is not None or expanded.get("type") not in NETWORK_TYPES:
            continue
        key = repr(sorted(expanded.items()))
        if key in seen:
            continue
        seen.add(key)
        try:
            saver = get_checkpointer(expanded)
        except CheckpointerUnavailable as exc:
            problem = str(exc)
        except CheckpointerConfigError as exc:
            messages.append(_config_error(str(exc), block))
            continue
        except Exception as exc:  # a driver error must not crash `check --deploy`
            problem = f"{type(exc).__name__}: {exc}"
        else:
            close_checkpointer(saver)
            continue
        messages.append(
            Error(
                f"{expanded['type']} checkpointer unreachable: {problem}",
                hint="Start the server or fix its URL; sessions cannot start or resume "
                "until it answers.",
                obj=block.where,
                id="yamlgraph.E004",
            )
        )
    return messages


# --------------------------------------------------------------------------- helpers


def _blocks_in_effect() -> list[_Block]:
    """The checkpointer blocks sessions would actually use, with where each comes from."""
    override = app_settings.CHECKPOINTER_OVERRIDE
    if override is not None:
        return [_Block(override, "YAMLGRAPH['CHECKPOINTER_OVERRIDE']")]
    blocks: list[_Block] = []
    using_default: list[str] = []
    for path in find_graph_files():
        graph = read_graph_file(path)
        if graph is None or graph.config is None:
            continue  # E001 reports it
        if graph.config.checkpointer is not None:
            blocks.append(_Block(graph.config.checkpointer, str(path), (graph.config.name,)))
        else:
            using_default.append(graph.config.name)
    default = _Block(
        app_settings.DEFAULT_CHECKPOINTER,
        "YAMLGRAPH['DEFAULT_CHECKPOINTER']",
        tuple(using_default),
    )
    return [default, *blocks]


def _expanded_blocks() -> Iterator[tuple[_Block, dict[str, Any], CheckMessage | None]]:
    """Each block in effect with `${VAR}` expanded, or the E002/E003 that prevents it.

    The same validation as the engine's for a graph file's block (which, when invalid,
    makes the file an E001 and is not among these).
    """
    from yamlgraph.storage import (
        CheckpointerConfigError,
        MissingPackage,
        UnsetEnvironmentVariable,
        validate_checkpointer,
    )

    for block in _blocks_in_effect():
        config = block.config
        if isinstance(config, dict):
            config = {
                k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in config.items()
            }
        try:
            expanded = validate_checkpointer(config)
        except UnsetEnvironmentVariable as exc:
            yield (
                block,
                {},
                Error(
                    f"checkpointer block uses an unset environment variable: {exc}",
                    hint="Set the variable in the environment of every process (web and "
                    "workers), or give a default: ${VAR:-value}.",
                    obj=block.where,
                    id="yamlgraph.E002",
                ),
            )
            continue
        except MissingPackage as exc:
            yield block, {}, _missing_extra(exc, block)
            continue
        except CheckpointerConfigError as exc:
            yield block, {}, _config_error(str(exc), block)
            continue
        yield block, expanded, None


def _missing_extra(exc: Any, block: _Block) -> CheckMessage:
    from yamlgraph.storage._config import pip_line

    return Error(
        str(exc),
        hint=f"Install it ({pip_line(exc.extra)}), or choose another checkpointer type.",
        obj=block.where,
        id="yamlgraph.E007",
    )


def _config_error(problem: str, block: _Block) -> CheckMessage:
    return Error(
        problem,
        hint="Fix the checkpointer block; sessions of the graphs that use it cannot start.",
        obj=block.where,
        id="yamlgraph.E003",
    )


def _is_memory(config: dict[str, Any]) -> bool:
    """Memory, or SQLite in memory: both forget every session when the process exits."""
    kind = config.get("type")
    return kind == "memory" or (kind == "sqlite" and str(config.get("path")) == ":memory:")


@register(TAG)
def check_rules(app_configs: Iterable[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """YAMLGRAPH["RULES"] must name rulebook policies: a typo would fail every request."""
    from django.core.exceptions import ImproperlyConfigured

    from yamlgraph_django.services.rules import policy_classes

    if not _ours(app_configs):
        return []
    try:
        policy_classes()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="yamlgraph.E020", hint="See services.rules in the README.")]
    return []


from yamlgraph_django import extras as _extras  # noqa: E402, F401 - registers E007 for TASKS/EVENTS_URL
from yamlgraph_django import operations_checks  # noqa: E402, F401 - registers its checks
