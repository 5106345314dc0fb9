"""YAML loading that remembers the line of every key, so errors can point at it."""

from __future__ import annotations

from typing import Any

import yaml

YamlPath = tuple[str | int, ...]


class LineMap:
    """Maps a YAML path such as ("nodes", "ask", "resume_key") to its 1-based line."""

    def __init__(self) -> None:
        self._lines: dict[YamlPath, int] = {}

    def record(self, path: YamlPath, line: int) -> None:
        self._lines.setdefault(path, line)

    def line(self, path: YamlPath) -> int | None:
        """The line of `path`, else of its nearest recorded parent."""
        path = tuple(path)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), None)


def format_path(path: YamlPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def load_yaml(text: str) -> tuple[Any, LineMap]:
    """Parse `text` safely and return (data, line map). Raises yaml.YAMLError on bad syntax."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    lines = LineMap()
    if root is None:
        return None, lines
    lines.record((), root.start_mark.line + 1)
    loader = yaml.SafeLoader("")
    try:
        data = _construct(root, (), lines, loader)
    finally:
        loader.dispose()
    return data, lines


def _construct(node: yaml.Node, path: YamlPath, lines: LineMap, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                key = str(key)
            child = (*path, key)
            lines.record(child, key_node.start_mark.line + 1)
            result[key] = _construct(value_node, child, lines, loader)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item_node in enumerate(node.value):
            child = (*path, index)
            lines.record(child, item_node.start_mark.line + 1)
            items.append(_construct(item_node, child, lines, loader))
        return items
    return loader.construct_object(node, deep=True)
