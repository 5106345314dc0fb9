"""Checking answers and start input against what the graph declares, before anything runs.

The rules are the engine's (`yamlgraph.answers`); this module finds, for a session's
checkpoint, which node asked each pending question, and turns refusals into
InvalidInput naming the field, so a refused answer changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from yamlgraph.answers import answer_errors, input_errors, response_schema
from yamlgraph.config import kind_of
from yamlgraph_django.exceptions import InvalidInput

if TYPE_CHECKING:
    from yamlgraph.config import GraphConfig


def check_start_input(config: GraphConfig, data: Mapping[str, Any]) -> None:
    """InvalidInput naming each required state field the input leaves out or empty."""
    errors = input_errors(config, data)
    if errors:
        raise InvalidInput(errors=errors)


def schemas_by_interrupt(config: GraphConfig, snapshot: Any) -> dict[str, dict[str, Any]]:
    """Interrupt id -> the response schema of the node that asked it."""
    schemas: dict[str, dict[str, Any]] = {}
    for task in getattr(snapshot, "tasks", None) or ():
        node = config.nodes.get(task.name)
        for interrupt in task.interrupts or ():
            # the node's type knows what its questions take (an interrupt's choices...)
            asked = kind_of(node).response_schema(node, interrupt.value) if node else None
            schemas[interrupt.id] = asked or response_schema(None, interrupt.value)
    for interrupt in getattr(snapshot, "interrupts", None) or ():
        schemas.setdefault(interrupt.id, response_schema(None, interrupt.value))
    return schemas


def with_response_schemas(
    config: GraphConfig, snapshot: Any, interrupts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`interrupts` ([{id, value}]) with each one's `response_schema` added."""
    schemas = schemas_by_interrupt(config, snapshot)
    return [
        {**item, "response_schema": schemas.get(item["id"], response_schema(None, item["value"]))}
        for item in interrupts
    ]


def check_answers(
    schemas: Mapping[str, dict[str, Any] | None], answers: Mapping[str, Any], field: str
) -> None:
    """InvalidInput if an answer does not fit its question's response schema
    (`schemas`: interrupt id -> schema, from `schemas_by_interrupt` or the session row).

    `field` is how the caller gave the answers: "value" (one answer: the message is the
    field's) or "values" ({interrupt_id: message} under "values").
    """
    problems = {
        interrupt_id: "; ".join(errors)
        for interrupt_id, value in answers.items()
        if (errors := answer_errors(schemas.get(interrupt_id), value))
    }
    if not problems:
        return
    if field == "value":
        raise InvalidInput(errors={"value": next(iter(problems.values()))})
    detail = "; ".join(f"values.{key}: {message}" for key, message in problems.items())
    raise InvalidInput(detail, errors={"values": problems})
