"""Checking what callers give before anything is stored: input, metadata, thread ids,
channels. Each error names the field, so the API can answer like a DRF serializer."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from yamlgraph_django.conf import app_settings
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


#: Deepest nesting of lists and objects a stored value may have (JSON parsers, the
#: checkpoint serializer and Python's own recursion all have limits not far beyond).
MAX_DEPTH = 64
#: Largest integer magnitude a checkpoint (msgpack) can hold.
INT_MIN, INT_MAX = -(2**63), 2**64 - 1

NUL_MESSAGE = "Text must not contain NUL (\\u0000) characters."
SURROGATE_MESSAGE = "Text must be valid Unicode (no lone surrogates such as \\ud800)."
INT_MESSAGE = "Integers must fit in 64 bits (-2**63 to 2**64-1); send larger numbers as text."
DEPTH_MESSAGE = f"Nested more than {MAX_DEPTH} levels deep."


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return NUL_MESSAGE
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE_MESSAGE
    return None


def unstorable(value: Any) -> Iterator[tuple[tuple[str, ...], str]]:
    """(path, message) for each part of `value` no database or checkpoint store can hold:
    NUL or lone surrogates in text, integers beyond 64 bits, floats that are not finite,
    nesting deeper than MAX_DEPTH, other types. Iterative: any depth is safe to check."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if len(path) > MAX_DEPTH:
            yield path[:MAX_DEPTH], DEPTH_MESSAGE
            continue
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                yield path, problem
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                yield path, INT_MESSAGE
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                yield path, "Numbers must be finite (no NaN or Infinity)."
        elif isinstance(item, Mapping):
            for key, child in reversed(list(item.items())):
                if not isinstance(key, str):
                    yield path, f"Object keys must be text, not {type(key).__name__}."
                    continue
                problem = _text_problem(key)
                if problem:
                    yield path, problem
                else:
                    stack.append(((*path, key), child))
        elif isinstance(item, list | tuple):
            for index in range(len(item) - 1, -1, -1):
                stack.append(((*path, str(index)), item[index]))
        else:
            yield path, f"Not JSON: {type(item).__name__}."


def require_json(value: Any, field: str) -> None:
    """InvalidInput unless `value` is JSON every store can hold, naming the first place
    that is not (`field.key.0`): it is stored as given, so it must round-trip."""
    for path, message in unstorable(value):
        raise InvalidInput(errors={".".join((field, *path)): message})
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:  # pragma: no cover - unstorable() saw it first
        raise InvalidInput(errors={field: f"not JSON-serializable: {exc}"}) from None
    limit = int(app_settings.MAX_REQUEST_BYTES)
    if size > limit:
        raise InvalidInput(errors={field: f"{size} bytes as JSON; the limit is {limit}."})


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
    from yamlgraph_django.services.chat import messages_errors

    errors: dict[str, str] = messages_errors(config, data)
    for key, value in data.items():
        expected = fields[key].type
        if expected != "messages" and not matches_type(expected, value):
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
