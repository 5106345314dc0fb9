"""The registry of node types: one module per type, listed here, and a project's own.

    from yamlgraph.node_types import register_node_type
    from yamlgraph.node_types.base import NodeType

    class Shout(NodeType):
        name = "shout"
        keys = frozenset({"text", "state_key"})
        ...

    register_node_type(Shout())

The built-in types are imported on first use (their modules import the loader's
config, which imports this package). A package may also list its types under the
`yamlgraph.node_types` entry point group (`name = "module:ClassOrInstance"`); the
Django app imports the modules of its `NODE_TYPES` setting when it starts.
"""

from __future__ import annotations

import importlib
import threading
from importlib.metadata import entry_points

from yamlgraph.node_types.base import KeyExtension, NodeType

__all__ = [
    "KeyExtension",
    "NodeType",
    "get_node_type",
    "node_type_names",
    "node_types",
    "register_key_extension",
    "register_node_type",
]

#: The engine's own types, in the order docs and the legend list them.
BUILTIN_MODULES = (
    "yamlgraph.node_types.llm",
    "yamlgraph.node_types.router",
    "yamlgraph.node_types.agent",
    "yamlgraph.node_types.python",
    "yamlgraph.node_types.passthrough",
    "yamlgraph.node_types.interrupt",
    "yamlgraph.node_types.subgraph",
    "yamlgraph.node_types.map",
    "yamlgraph.node_types.tool_call",
)
ENTRY_POINT_GROUP = "yamlgraph.node_types"

_TYPES: dict[str, NodeType] = {}
_PENDING_EXTENSIONS: dict[str, list[KeyExtension]] = {}
_READY = False  # the built-ins and entry points are registered
_LOADING = False  # this process is registering them (a module may register meanwhile)
_LOCK = threading.RLock()


def register_node_type(node_type: NodeType, *, replace: bool = False) -> NodeType:
    """Add a node type; registering a name twice is an error unless `replace`."""
    if not isinstance(node_type, NodeType) or not node_type.name:
        raise TypeError("register a NodeType instance with a `name`")
    with _LOCK:
        _load_builtins()
        existing = _TYPES.get(node_type.name)
        if existing is not None and not replace and type(existing) is not type(node_type):
            raise ValueError(f"node type '{node_type.name}' is registered already")
        _attach_extensions(node_type)
        _TYPES[node_type.name] = node_type
    return node_type


def unregister_node_type(name: str) -> None:
    """Remove a type (tests; a project replacing a built-in registers with `replace`)."""
    with _LOCK:
        _TYPES.pop(name, None)


def register_key_extension(type_name: str, extension: KeyExtension) -> None:
    """Give the node type `type_name` more keys, checked by `extension.check`."""
    with _LOCK:
        _PENDING_EXTENSIONS.setdefault(type_name, []).append(extension)
        if type_name in _TYPES and extension not in _TYPES[type_name].extensions:
            _TYPES[type_name].extensions.append(extension)


def get_node_type(name: str) -> NodeType | None:
    """The registered type called `name`, or None."""
    _load_builtins()
    return _TYPES.get(name)


def node_types() -> dict[str, NodeType]:
    """Every registered type by name, built-ins first."""
    _load_builtins()
    return dict(_TYPES)


def node_type_names() -> set[str]:
    return set(node_types())


def defaults_extensions() -> list[KeyExtension]:
    """Extensions that add keys to the graph's `defaults:`."""
    seen: list[KeyExtension] = []
    for node_type in node_types().values():
        for extension in node_type.extensions:
            if extension not in seen and (extension.defaults_keys or extension.check_defaults):
                seen.append(extension)
    return seen


def _attach_extensions(node_type: NodeType) -> None:
    wanted = list(_PENDING_EXTENSIONS.get(node_type.name, ()))
    for spec in node_type.extension_modules:
        module_name, _, attribute = spec.partition(":")
        wanted.append(getattr(importlib.import_module(module_name), attribute))
    for extension in wanted:
        if extension not in node_type.extensions:
            node_type.extensions.append(extension)


def _load_builtins() -> None:
    global _READY, _LOADING
    if _READY:
        return
    with _LOCK:  # re-entrant: an entry point registering while we load passes through
        if _READY or _LOADING:
            return
        _LOADING = True
        try:
            for module_name in BUILTIN_MODULES:
                node_type = importlib.import_module(module_name).NODE_TYPE
                _attach_extensions(node_type)
                _TYPES[node_type.name] = node_type
            for entry in entry_points(group=ENTRY_POINT_GROUP):
                loaded = entry.load()
                register_node_type(loaded() if isinstance(loaded, type) else loaded, replace=True)
            _READY = True
        finally:
            _LOADING = False
