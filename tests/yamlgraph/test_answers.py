"""What an interrupt's answer and a graph's start input may be (`yamlgraph.answers`), and
the validation of the YAML keys that declare it."""

from __future__ import annotations

import pytest

from tests.yamlgraph.conftest import write
from yamlgraph.answers import (
    answer_errors,
    input_errors,
    input_schema,
    pick_choice,
    question_as_text,
    required_inputs,
    response_schema,
)
from yamlgraph.errors import GraphValidationError
from yamlgraph.graph_loader import load_graph_config

GRAPH = """
version: "1.0"
name: answers
state:
  amount: {{type: float, required: true}}
  note: {{type: str, default: ""}}
  decision: str
nodes:
  ask:
    type: interrupt
    message: "Approve?"
{extra}
    resume_key: decision
edges:
  - {{from: START, to: ask}}
  - {{from: ask, to: END}}
"""


def load(tmp_path, extra: str = "", state_override: str | None = None):
    text = GRAPH.format(extra=extra)
    if state_override is not None:
        text = text.replace("  amount: {type: float, required: true}", state_override)
    return load_graph_config(write(tmp_path, "graph.yaml", text))


def issues(tmp_path, extra: str = "", state_override: str | None = None) -> list[str]:
    with pytest.raises(GraphValidationError) as caught:
        load(tmp_path, extra, state_override)
    return [f"{issue.path}: {issue.message}" for issue in caught.value.issues]


def test_choices_become_a_required_enum(tmp_path):
    config = load(tmp_path, '    choices: ["yes", "no"]')
    schema = response_schema(config.nodes["ask"].options)
    assert schema == {"type": "string", "required": True, "enum": ["yes", "no"]}
    assert answer_errors(schema, "yes") == []
    assert answer_errors(schema, "maybe") == ["must be one of: yes, no"]
    assert answer_errors(schema, "") == ["an answer is required"]
    assert answer_errors(schema, True) == ["must be text, not true or false"]


def test_a_response_mapping_declares_type_required_and_enum(tmp_path):
    config = load(tmp_path, "    response: {type: integer, required: false, enum: [1, 2, 3]}")
    schema = response_schema(config.nodes["ask"].options)
    assert schema == {"type": "integer", "required": False, "enum": [1, 2, 3]}
    assert answer_errors(schema, None) == []  # not required: no answer is fine
    assert answer_errors(schema, 2) == []
    assert answer_errors(schema, 4) == ["must be one of: 1, 2, 3"]
    assert answer_errors(schema, True) == ["must be a whole number, not true or false"]


def test_without_a_declaration_any_answer_goes_and_a_dict_questions_choices_count():
    assert response_schema({}) == {"type": "any", "required": False}
    assert answer_errors(response_schema({}), None) == []
    offered = response_schema({}, {"question": "Go?", "choices": ["go", "stop"]})
    assert offered["enum"] == ["go", "stop"] and offered["required"]
    assert answer_errors({"required": True}, "  ") == ["an answer is required"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("    choices: []", "nodes.ask.choices: must be a non-empty list"),
        ("    choices: yes", "nodes.ask.choices: must be a non-empty list"),
        ("    response: text", "nodes.ask.response: must be a mapping"),
        ("    response: {type: text}", "nodes.ask.response.type: unknown response type 'text'"),
        ("    response: {required: maybe}", "nodes.ask.response.required: must be true or false"),
        ("    response: {type: integer, enum: [a]}", "every choice must be of type 'integer'"),
        ("    response: {tpye: string}", "nodes.ask.response.tpye: unknown response key 'tpye'"),
        (
            '    choices: ["a"]\n    response: {enum: ["b"]}',
            "nodes.ask.choices: give 'choices' or 'response.enum', not both",
        ),
    ],
)
def test_bad_declarations_are_errors_with_their_path(tmp_path, extra, expected):
    found = issues(tmp_path, extra)
    assert any(expected in issue for issue in found), found


def test_required_state_fields(tmp_path):
    config = load(tmp_path)
    assert required_inputs(config) == ["amount"]
    schema = input_schema(config)
    assert schema["required"] == ["amount"]
    assert schema["properties"]["amount"] == {"type": "number", "required": True}
    assert schema["properties"]["note"] == {"type": "string", "required": False, "default": ""}
    assert input_errors(config, {}) == {"amount": "required: the graph cannot start without it"}
    assert input_errors(config, {"amount": 3.5}) == {}


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("  amount: {type: float, required: 1}", "state.amount.required: must be true or false"),
        (
            "  amount: {type: float, required: true, default: 0}",
            "state.amount.required: a required field cannot also have a default",
        ),
    ],
)
def test_bad_required_keys(tmp_path, field, expected):
    assert expected in issues(tmp_path, state_override=field)


def test_a_structured_question_as_text():
    value = {"question": "Approve Bob's expense?", "amount": 500, "choices": ["yes", "no"]}
    assert question_as_text(value) == "Approve Bob's expense?\n  amount: 500\n  1) yes\n  2) no"
    assert question_as_text("Name?") == "Name?"
    assert pick_choice("2", {"enum": ["yes", "no"]}) == "no"
    assert pick_choice("3", {"enum": ["yes", "no"]}) is None
    assert pick_choice("1", {"enum": [1, 2]}) is None  # "1" is itself a choice
