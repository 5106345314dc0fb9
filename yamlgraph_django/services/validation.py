"""Checking what callers give before anything is stored: input, metadata, thread ids,
channels. Each error names the field, so the API can answer like a DRF serializer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from yamlgraph_django.exceptions import InvalidInput
from yamlgraph_django.models import RunChannel, Session

if TYPE_CHECKING:
    from yamlgraph.config import GraphConfig


class _Missing:
    """The type of MISSING: "no value given", distinct from None (a valid answer)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def user_or_none(user: Any) -> Any:
    """A user to store on a row: AnonymousUser (request.user when logged out) is None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def require_json(value: Any, field: str) -> None:
    """InvalidInput unless `value` is strict JSON: stored as given, so it must round-trip."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(errors={field: f"not JSON-serializable: {exc}"}) from None


def check_channel(channel: str) -> str:
    """The channel a run is recorded under; InvalidInput for one the model does not know."""
    if channel not in RunChannel.values:
        raise InvalidInput(
            errors={
                "channel": f"unknown channel {channel!r}; one of {', '.join(RunChannel.values)}"
            }
        )
    return str(channel)


_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "list": "a list",
    "dict": "an object",
}


def matches_type(expected: str, value: Any) -> bool:
    """Does a JSON value fit a state field type? `any` takes anything; ints fit floats."""
    if expected == "any":
        return True
    if expected == "str":
        return isinstance(value, str)
    if expected == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "bool":
        return isinstance(value, bool)
    if expected == "list":
        return isinstance(value, list)
    if expected == "dict":
        return isinstance(value, dict)
    return True


def json_type_word(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def validate_input(config: GraphConfig, data: Any) -> dict[str, Any]:
    """Check start input against the graph's public state fields.

    Unknown keys are named together with the known ones (a typo is the usual cause);
    a type mismatch names the field and the type it expects.
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidInput(errors={"input": f"must be an object, not {json_type_word(data)}"})
    fields = config.public_state_fields
    known = ", ".join(sorted(fields)) or "(none)"
    unknown = [str(key) for key in data if key not in fields]
    if unknown:
        names = ", ".join(f"'{key}'" for key in unknown)
        raise InvalidInput(
            f"Unknown input field(s) {names} for graph '{config.name}'; known fields: {known}.",
            errors={key: f"unknown field; known fields: {known}" for key in unknown},
        )
    errors: dict[str, str] = {}
    for key, value in data.items():
        expected = fields[key].type
        if not matches_type(expected, value):
            errors[str(key)] = (
                f"expected {_TYPE_WORDS.get(expected, expected)} ({expected}), "
                f"got {json_type_word(value)}"
            )
    if errors:
        raise InvalidInput(errors=errors)
    result = dict(data)
    require_json(result, "input")
    return result


def validate_metadata(metadata: Any) -> dict[str, Any]:
    """Metadata is a flat object of strings, numbers and booleans (searchable, filterable)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInput(
            errors={"metadata": f"must be an object, not {json_type_word(metadata)}"}
        )
    bad = [
        str(key)
        for key, value in metadata.items()
        if not isinstance(key, str) or not isinstance(value, str | int | float | bool)
    ]
    if bad:
        raise InvalidInput(
            errors={
                "metadata": "values must be strings, numbers or booleans (a flat object); "
                f"not so for: {', '.join(bad)}"
            }
        )
    result = dict(metadata)
    require_json(result, "metadata")
    return result


def validate_thread_id(thread_id: Any) -> str | None:
    if thread_id is None:
        return None
    if not isinstance(thread_id, str) or not thread_id.strip():
        raise InvalidInput(errors={"thread_id": "must be a non-empty string"})
    max_length = Session._meta.get_field("thread_id").max_length or 255
    if len(thread_id) > max_length:
        raise InvalidInput(errors={"thread_id": f"at most {max_length} characters"})
    return thread_id
