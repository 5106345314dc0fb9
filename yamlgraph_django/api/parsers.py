"""The API's JSON parser: strict JSON, and no NUL characters anywhere.

PostgreSQL cannot store a NUL character (`\\u0000`) in text or jsonb, so a body carrying
one would fail deep inside a write (a 500, possibly with a session half claimed). It is
refused here as a 400 naming where it was, before anything runs, whatever the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rest_framework import serializers
from rest_framework.parsers import JSONParser

NUL = "\x00"
NUL_MESSAGE = "Text must not contain NUL (\\u0000) characters."


def nul_paths(data: Any, path: str = "") -> Iterator[str]:
    """Dotted paths (`input.topic`, `values.0`) of strings or keys that contain NUL."""
    if isinstance(data, str):
        if NUL in data:
            yield path or "non_field_errors"
    elif isinstance(data, dict):
        for key, value in data.items():
            child = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                yield (path or "non_field_errors")
            else:
                yield from nul_paths(value, child)
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            yield from nul_paths(value, f"{path}.{index}" if path else str(index))


def refuse_nul(data: Any) -> None:
    """A 400 (`invalid_input`) naming each place in `data` where a NUL character is."""
    paths = list(dict.fromkeys(nul_paths(data)))
    if paths:
        raise serializers.ValidationError({path: [NUL_MESSAGE] for path in paths})


class JSONBodyParser(JSONParser):
    """DRF's JSON parser (strict: no NaN or Infinity) that also refuses NUL characters."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        refuse_nul(data)
        return data
