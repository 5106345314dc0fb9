"""What a graph expects from people: the answer an interrupt takes, and the start input.

Pure functions, shared by the engine's validation, the Django service and every client
(admin, API, commands), so a refused answer reads the same everywhere and nothing has
to guess from the question's JSON.

An interrupt node may declare its answer with yamlgraph's `choices` list, or with a
JSON-schema-like `response` mapping:

    ask:
      type: interrupt
      message: "Approve?"
      choices: ["yes", "no"]                 # or:
      response: {type: string, required: true, enum: ["yes", "no"]}

Without a declaration the answer may be any JSON value, empty included. `required: true`
refuses an empty answer (null, or text that is only whitespace); choices imply it. A
rendered message that is a mapping with a literal `choices` list offers those choices.

A state field declared `{type: ..., required: true}` must be given when a session starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol


class DeclaredField(Protocol):
    """What the start-input checks read of a state field (`config.StateField`)."""

    @property
    def type(self) -> str: ...
    @property
    def default(self) -> Any: ...
    @property
    def has_default(self) -> bool: ...
    @property
    def required(self) -> bool: ...
    @property
    def declared(self) -> bool: ...


class StateSchema(Protocol):
    """What they read of a graph (`config.GraphConfig`): a Protocol, so this module needs
    no import of the config module, which imports it."""

    @property
    def public_state_fields(self) -> Mapping[str, DeclaredField]: ...


RESPONSE_KEYS = {"type", "required", "enum", "description"}
RESPONSE_TYPES = {"string", "integer", "number", "boolean", "object", "array", "any"}
#: State field types (the YAML's words) as response types (JSON schema's words).
STATE_TYPE_SCHEMA = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "list": "array",
    "dict": "object",
    "any": "any",
    "messages": "array",  # of LangChain message dicts (yamlgraph.messages)
}
_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
}

Problem = tuple[tuple[str, ...], str]


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and value is not None


def _fits(expected: str, value: Any) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    return True


def is_empty(value: Any) -> bool:
    """No answer at all: null, or text that is empty or only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


def schema_problems(options: Mapping[str, Any]) -> list[Problem]:
    """What is wrong with an interrupt node's `choices` / `response` keys, as
    (YAML sub-path, message) pairs for the config validator."""
    problems: list[Problem] = []
    choices = options.get("choices")
    if choices is not None and (
        not isinstance(choices, list) or not choices or not all(map(_is_scalar, choices))
    ):
        problems.append((("choices",), "must be a non-empty list of strings, numbers or booleans"))
    response = options.get("response")
    if response is None:
        return problems
    if not isinstance(response, dict):
        problems.append((("response",), "must be a mapping with 'type', 'required' or 'enum'"))
        return problems
    for key in response:
        if key not in RESPONSE_KEYS:
            known = ", ".join(sorted(RESPONSE_KEYS))
            problems.append(
                (("response", str(key)), f"unknown response key '{key}'; known: {known}")
            )
    expected = response.get("type", "any")
    if expected not in RESPONSE_TYPES:
        known = ", ".join(sorted(RESPONSE_TYPES))
        problems.append(
            (("response", "type"), f"unknown response type '{expected}'; known: {known}")
        )
    if not isinstance(response.get("required", True), bool):
        problems.append((("response", "required"), "must be true or false"))
    enum = response.get("enum")
    if enum is not None:
        if not isinstance(enum, list) or not enum or not all(map(_is_scalar, enum)):
            problems.append(
                (("response", "enum"), "must be a non-empty list of strings, numbers or booleans")
            )
        elif expected in RESPONSE_TYPES and not all(_fits(expected, item) for item in enum):
            problems.append((("response", "enum"), f"every choice must be of type '{expected}'"))
        if choices is not None:
            problems.append((("choices",), "give 'choices' or 'response.enum', not both"))
    return problems


def response_schema(
    options: Mapping[str, Any] | None = None, payload: Any = None
) -> dict[str, Any]:
    """The answer an interrupt takes: {type, required, enum?, description?}.

    `options` are the node's YAML keys; `payload` is the rendered question, whose own
    literal `choices` list counts when the node declares none.
    """
    options = options or {}
    from yamlgraph.review import review_of

    review = review_of(payload)
    if review is not None:  # a review question (declared with `review:`, or asked so)
        schema: dict[str, Any] = {"type": "object", "required": True, "review": review}
        if isinstance(options.get("answer_from"), str):
            schema["answer_from"] = options["answer_from"]
        return schema
    response = options.get("response") if isinstance(options.get("response"), dict) else {}
    enum = response.get("enum", options.get("choices"))
    if enum is None and isinstance(payload, dict):
        offered = payload.get("choices")
        if isinstance(offered, list) and offered and all(map(_is_scalar, offered)):
            enum = offered
    has_choices = isinstance(enum, list) and bool(enum)
    schema: dict[str, Any] = {
        "type": response.get("type", "any"),
        "required": bool(response.get("required", has_choices)),
    }
    if has_choices:
        schema["enum"] = list(enum)
        if schema["type"] == "any" and all(isinstance(item, str) for item in enum):
            schema["type"] = "string"
    if isinstance(response.get("description"), str):
        schema["description"] = response["description"]
    if isinstance(options.get("answer_from"), str):
        schema["answer_from"] = options["answer_from"]  # a chat message answers it
    return schema


def received_answer(schema: Mapping[str, Any] | None, value: Any) -> Any:
    """An answer as the graph receives it: a review's decision as {type, args, message}
    (whichever shape it came in), agent-inbox's `response` as its text; any other
    answer as it is. Assumes `answer_errors` found nothing wrong."""
    from yamlgraph.review import decision_of, inbox_text

    schema = schema or {}
    if "review" in schema:
        decision, _problem = decision_of(schema["review"], value)
        return decision if decision is not None else value
    text, _problem = inbox_text(value)
    return text if _problem is None else value


def answer_errors(schema: Mapping[str, Any] | None, value: Any) -> list[str]:
    """Why `value` is not an answer `schema` takes; [] when it is."""
    from yamlgraph.review import decision_of, inbox_text

    schema = schema or {}
    if "review" in schema:  # one decision: approve, edit or reject
        _decision, problem = decision_of(schema["review"], value)
        return [problem] if problem else []
    value, problem = inbox_text(value)  # agent-inbox's [{"type": "response", "args"}]
    if problem:
        return [problem]
    if is_empty(value):
        return ["an answer is required"] if schema.get("required") else []
    expected = schema.get("type", "any")
    if not _fits(expected, value):
        return [f"must be {_TYPE_WORDS.get(expected, expected)}, not {_json_word(value)}"]
    enum = schema.get("enum")
    if enum and not any(_same(value, item) for item in enum):
        shown = ", ".join(item if isinstance(item, str) else json.dumps(item) for item in enum)
        return [f"must be one of: {shown}"]
    return []


def _same(value: Any, item: Any) -> bool:
    """Equal and of the same JSON kind (True is not 1)."""
    return value == item and isinstance(value, bool) == isinstance(item, bool)


def _json_word(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


#: Keys of a dict question that hold its sentence, in the order they are looked for.
QUESTION_KEYS = ("question", "message", "prompt", "text")


def question_sentence(value: Any) -> str:
    """The sentence of a question: the text itself, a review's description, or a dict's
    `question` (or `message`, `prompt`, `text`) key; anything else as compact JSON."""
    from yamlgraph.review import review_of

    if isinstance(value, str):
        return value
    review = review_of(value)
    if review is not None:  # a review: its description, else the action it is about
        description = value["action_requests"][0].get("description")
        return str(description or f"Review: {review['action']}")
    if isinstance(value, dict):
        for key in QUESTION_KEYS:
            if isinstance(value.get(key), str):
                return value[key]
    return json.dumps(value, ensure_ascii=False, default=str)


def question_as_text(value: Any, schema: Mapping[str, Any] | None = None) -> str:
    """A question as a person reads it at a terminal: its sentence, the other facts of
    a dict question as `key: value` lines, and its choices numbered from 1."""
    from yamlgraph.review import review_of

    review = review_of(value)
    if review is not None:  # the action, its arguments, the decisions numbered
        request = value["action_requests"][0]
        lines = [str(request.get("description") or review["action"])]
        lines.append(f"  action: {review['action']}")
        lines.append(f"  args: {json.dumps(review['args'], ensure_ascii=False, default=str)}")
        lines += [f"  {n}) {d}" for n, d in enumerate(review["allowed"], start=1)]
        return "\n".join(lines)
    lines = [question_sentence(value)]
    if isinstance(value, dict):
        sentence_key = next((k for k in QUESTION_KEYS if isinstance(value.get(k), str)), None)
        for key, item in value.items():
            if key in (sentence_key, "choices"):
                continue
            shown = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
            lines.append(f"  {key}: {shown}")
    choices = (schema or {}).get("enum") or response_schema(None, value).get("enum") or []
    for number, choice in enumerate(choices, start=1):
        shown = choice if isinstance(choice, str) else json.dumps(choice)
        lines.append(f"  {number}) {shown}")
    return "\n".join(lines)


#: The action name of a plain question's agent-inbox card (its title reads "Question").
INBOX_QUESTION_ACTION = "question"


def inbox_card(value: Any, schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A plain question as agent-inbox's `HumanInterrupt` card ({action_request, config,
    description}): Respond only, so its answer box answers the question and no Ignore or
    Accept button is offered as one. {} for a review question (agent-inbox reads the
    HITL shape itself) and for a question already in agent-inbox's shape.

    /lg/ puts the card's keys next to `value` in each interrupt dict, where agent-inbox
    reads a card when the value is not one."""
    from yamlgraph.review import review_of

    if review_of(value) is not None or _is_inbox_card(value):
        return {}
    facts: dict[str, Any] = {}
    if isinstance(value, Mapping):
        sentence_key = next((k for k in QUESTION_KEYS if isinstance(value.get(k), str)), None)
        facts = {k: v for k, v in value.items() if k not in (sentence_key, "choices")}
    description = question_sentence(value)
    choices = (schema or {}).get("enum") or response_schema(None, value).get("enum") or []
    if choices:
        shown = ", ".join(c if isinstance(c, str) else json.dumps(c) for c in choices)
        description += f"\n\nAnswer with one of: {shown}"
    return {
        "action_request": {"action": INBOX_QUESTION_ACTION, "args": facts},
        "config": {
            "allow_accept": False,
            "allow_edit": False,
            "allow_respond": True,
            "allow_ignore": False,
        },
        "description": description,
    }


def _is_inbox_card(value: Any) -> bool:
    """Is `value` already agent-inbox's `HumanInterrupt` (or a list of them)?"""
    first = value[0] if isinstance(value, list) and value else value
    return isinstance(first, Mapping) and "action_request" in first and "config" in first


def pick_choice(text: str, schema: Mapping[str, Any] | None) -> Any:
    """The choice a typed number names ("2" -> the second choice), else None. For a
    review question: the decision typed or numbered ("approve", "1", "reject: why")."""
    review = (schema or {}).get("review")
    if isinstance(review, Mapping):
        allowed = list(review.get("allowed") or ())
        word, _sep, message = text.strip().partition(":")
        word = word.strip().lower()
        if word.isdigit() and 1 <= int(word) <= len(allowed):
            word = allowed[int(word) - 1]
        if word in allowed and word != "edit":
            decision: dict[str, Any] = {"type": word}
            if word == "reject" and message.strip():
                decision["message"] = message.strip()
            return {"decisions": [decision]}
        return None
    choices = (schema or {}).get("enum") or []
    stripped = text.strip()
    if stripped.isdigit() and not any(str(c) == stripped for c in choices):
        index = int(stripped)
        if 1 <= index <= len(choices):
            return choices[index - 1]
    return None


# --------------------------------------------------------------------------- start input


def required_inputs(config: StateSchema) -> list[str]:
    """State fields a session must be started with: those declared `required: true`.

    Required-ness is declared, never guessed: a field without a default may well be
    filled in by a python tool, which the YAML cannot show.
    """
    return [name for name, field in config.public_state_fields.items() if field.required]


def input_schema(config: StateSchema) -> dict[str, Any]:
    """The start input as a JSON-schema-like object: the fields the YAML declares, typed,
    with their defaults and whether each is required (see `required_inputs`)."""
    required = set(required_inputs(config))
    properties: dict[str, Any] = {}
    for name, state_field in config.public_state_fields.items():
        if not state_field.declared:
            continue  # written by a node: not something to give at the start
        prop: dict[str, Any] = {
            "type": STATE_TYPE_SCHEMA.get(state_field.type, "any"),
            "required": name in required,
        }
        if state_field.has_default:
            prop["default"] = state_field.default
        properties[name] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name in required],
    }


def input_errors(config: StateSchema, data: Mapping[str, Any]) -> dict[str, str]:
    """Required start fields that are missing or empty, {field: message}."""
    return {
        name: "required: the graph cannot start without it"
        for name in required_inputs(config)
        if is_empty(data.get(name))
    }
