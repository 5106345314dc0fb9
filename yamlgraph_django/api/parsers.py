"""The API's JSON parser: strict JSON that every store can hold, or a 400 saying where not.

Some values are valid JSON yet fail deep inside a run, as a 500 or a session that fails
for no reason a caller could guess: a NUL character (`\\u0000`) or a lone surrogate
(`\\ud800`) in text, which PostgreSQL cannot store; an integer beyond 64 bits, which the
checkpoint serializer (msgpack) cannot store; nesting deep enough to exhaust recursion.
The service's `unstorable` check finds them; here they are refused naming the place
(`{"input": {"topic": [...]}}`, as DRF nests errors) before anything is stored or run.
NaN and Infinity are already refused by DRF's strict JSON parsing.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from yamlgraph_django.services.validation import DEPTH_MESSAGE, unstorable

NUL = "\x00"
Path = tuple[str, ...]


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
    for path, message in unstorable(data):
        _add(errors, path, message)
    if errors:
        raise serializers.ValidationError(errors)


class JSONBodyParser(JSONParser):
    """DRF's strict JSON parser that also refuses values no store can hold (see above)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - {DEPTH_MESSAGE}") from None
        refuse_unstorable(data)
        return data
