"""Checks of a graph document as a whole: its root, the type of every top-level key, and
the checkpointer block (known type, options, every `${VAR}` set).

Kept apart from the node and edge checks of `yamlgraph.config` so that every entry point
(the engine CLI, `load_graph_config`, the Django registry, `manage.py yamlgraph`, system
checks) refuses a wrong value at the top of a file the same way, naming its line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from yamlgraph.errors import did_you_mean
from yamlgraph.yaml_source import YamlPath

Report = Callable[[YamlPath, str], None]

#: A graph name is used in URLs, admin pages and command lines.
NAME_PATTERN = re.compile(r"^\w[\w.-]*$")
MAX_NAME_LENGTH = 200

_STRING_KEYS = ("description", "prompts_dir")
#: Top-level keys whose own parser does not report a value of the wrong type.
_MAPPING_KEYS = ("state", "tools", "config", "defaults")
_DEFAULTS_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "provider": ((str,), "a provider name"),
    "model": ((str,), "a model name"),
    "temperature": ((int, float), "a number"),
    "prompts_dir": ((str,), "a directory path"),
    "prompts_relative": ((bool,), "true or false"),
}


def root_problem(data: Any) -> str | None:
    """Why `data` (a parsed document) cannot be a graph, or None when it is a mapping."""
    if isinstance(data, dict):
        return None
    if data is None:
        return "the file is empty (or only comments): a graph file must be a YAML mapping with 'nodes' and 'edges'"
    kind = "a list" if isinstance(data, list) else f"a single value ({type(data).__name__})"
    return f"the file holds {kind}: a graph file must be a YAML mapping with 'nodes' and 'edges'"


def check_top_level(data: dict[Any, Any], report: Report) -> None:
    """Report each top-level key whose value has the wrong type."""
    if "version" in data:
        version = data["version"]
        if isinstance(version, bool) or not isinstance(version, str | int | float):
            report(("version",), f"must be a version string or number, not {_kind(version)}")
    if "name" in data:
        _check_name(data["name"], report)
    for key in _STRING_KEYS:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            report((key,), f"must be a string, not {_kind(value)}")
    if data.get("prompts_relative") is not None and not isinstance(data["prompts_relative"], bool):
        report(
            ("prompts_relative",), f"must be true or false, not {_kind(data['prompts_relative'])}"
        )
    for key in _MAPPING_KEYS:
        value = data.get(key)
        if value is not None and not isinstance(value, dict):
            report((key,), f"must be a mapping, not {_kind(value)}")
    defaults = data.get("defaults")
    if isinstance(defaults, dict):
        for key, (types, what) in _DEFAULTS_TYPES.items():
            value = defaults.get(key)
            wrong = isinstance(value, bool) and bool not in types
            if value is not None and (wrong or not isinstance(value, types)):
                report(("defaults", key), f"must be {what}, not {_kind(value)}")
    checkpointer = data.get("checkpointer")
    if checkpointer is not None and not isinstance(checkpointer, str | dict):
        report(("checkpointer",), "must be a type name or a mapping with 'type'")


def _check_name(name: Any, report: Report) -> None:
    if not isinstance(name, str):
        report(("name",), f"must be a string, not {_kind(name)}")
    elif len(name) > MAX_NAME_LENGTH:
        report(("name",), f"is {len(name)} characters long; at most {MAX_NAME_LENGTH}")
    elif not NAME_PATTERN.match(name):
        report(
            ("name",),
            f"'{name}' is not a valid graph name: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit",
        )


def check_checkpointer(
    block: dict[Any, Any] | str, report: Report, *, environment: bool = True
) -> None:
    """Report what keeps a checkpointer block from working, without connecting anywhere.

    An unknown type (with the known ones), an option the type does not take, and, when
    `environment` is true, an unset `${VAR}` (reported at the option that uses it). Pass
    environment=False when another block replaces this one in production (an operator's
    override), so a development-only variable does not make the file invalid.
    """
    from yamlgraph.storage import (
        CheckpointerConfigError,
        UnsetEnvironmentVariable,
        checkpointer_types,
        expand_env,
        validate_checkpointer,
    )

    type_path: YamlPath = ("checkpointer", "type") if isinstance(block, dict) else ("checkpointer",)
    block = block if isinstance(block, dict) else {"type": block}
    kind = block.get("type")
    known = checkpointer_types()
    if not isinstance(kind, str) or not kind.strip():
        report(("checkpointer",), f"needs a 'type'; known types: {', '.join(known)}")
        return
    if kind.strip().lower() not in known:
        report(
            type_path,
            f"unknown checkpointer type '{kind}'{did_you_mean(kind.strip().lower(), known)}; "
            f"known types: {', '.join(known)}",
        )
        return
    if not environment:
        return
    expanded: dict[Any, Any] = {}
    for key, value in block.items():
        try:
            expanded[key] = expand_env(value)
        except UnsetEnvironmentVariable as exc:
            report(("checkpointer", key), exc.detail)
    if len(expanded) < len(block):
        return
    try:
        validate_checkpointer(expanded)
    except CheckpointerConfigError as exc:
        report(("checkpointer",), exc.detail)


def _kind(value: Any) -> str:
    """How a wrong value reads in a message: 'a list [1]', 'a mapping'."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list {_short(value)}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return f"{type(value).__name__} {_short(value)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
