"""The API's JSON parser: strict JSON that every store can hold, or a 400 saying where not.

Two kinds of values are valid JSON yet fail deep inside a run, as a 500 or a session
that fails for no reason a caller could guess:

- a NUL character (`\\u0000`) in a string or key: PostgreSQL cannot store it in text or
  jsonb;
- an integer beyond 64 bits: LangGraph's checkpoint serializer (msgpack) cannot store it.

Both are refused here, naming the place (`{"input": {"topic": [...]}}`, as DRF nests errors), before anything
is stored or run, whatever the database and checkpointer. NaN and Infinity are already
refused by DRF's strict JSON parsing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rest_framework import serializers
from rest_framework.parsers import JSONParser

NUL = "\x00"
NUL_MESSAGE = "Text must not contain NUL (\\u0000) characters."
INT_MESSAGE = "Integers must fit in 64 bits (-2**63 to 2**64-1); send larger numbers as text."
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


Path = tuple[str, ...]


def problems(data: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """(path, message) for each NUL character or oversized integer in `data`."""
    if isinstance(data, str):
        if NUL in data:
            yield path, NUL_MESSAGE
    elif isinstance(data, bool):
        return
    elif isinstance(data, int):
        if not _INT_MIN <= data <= _INT_MAX:
            yield path, INT_MESSAGE
    elif isinstance(data, dict):
        for key, value in data.items():
            if NUL in str(key):
                yield path, NUL_MESSAGE
            else:
                yield from problems(value, (*path, str(key)))
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            yield from problems(value, (*path, str(index)))


def _add(tree: dict[str, Any], path: Path, message: str) -> None:
    """Put `message` at `path` in DRF's nested error shape ({field: {key: [messages]}})."""
    if not path:
        path = ("non_field_errors",)
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if isinstance(child, list):  # a message here already: keep it beside the children
            child = node[part] = {"non_field_errors": child}
        node = child
    leaf = node.setdefault(path[-1], [])
    if isinstance(leaf, dict):
        leaf = leaf.setdefault("non_field_errors", [])
    if message not in leaf:
        leaf.append(message)


def refuse_unstorable(data: Any) -> None:
    """A 400 (`invalid_input`) naming each place in `data` no store can hold."""
    errors: dict[str, Any] = {}
    for path, message in problems(data):
        _add(errors, path, message)
    if errors:
        raise serializers.ValidationError(errors)


class JSONBodyParser(JSONParser):
    """DRF's strict JSON parser that also refuses values no store can hold (see above)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        refuse_unstorable(data)
        return data
