"""`assign`, `due`, `remind_before` and `on_timeout` on interrupt nodes, and
`defaults.assign` / `defaults.due`: validated like every other key, each problem with
its YAML path and line; a valid assignment is carried as data."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.yamlgraph.conftest import write
from tests.yamlgraph.test_validation import issues_of, line_of
from yamlgraph.assignment import assignment_of, parse_duration
from yamlgraph.graph_loader import load_graph_config

GRAPH = """
defaults:
  due: 2d
nodes:
  ask:
    type: interrupt
    message: "Approve?"
    assign:
      groups: [finance]
      users: ["{state.manager}"]
      permission: expenses.approve
      exclude_owner: true
    due: 4h
    remind_before: 30m
    on_timeout:
      assign: {groups: [finance-leads]}
  other:
    type: interrupt
    message: "And this?"
    resume_key: other_answer
    state_key: other_question
edges:
  - {from: START, to: ask}
  - {from: ask, to: other}
  - {from: other, to: END}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", dt.timedelta(seconds=30)),
        ("30m", dt.timedelta(minutes=30)),
        ("4h", dt.timedelta(hours=4)),
        ("2d", dt.timedelta(days=2)),
        ("1w", dt.timedelta(weeks=1)),
        ("P2D", dt.timedelta(days=2)),
        ("PT4H30M", dt.timedelta(hours=4, minutes=30)),
        ("p1dt2h", dt.timedelta(days=1, hours=2)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["2", "2x", "P", "PT", "-1h", "0m", "soon"])
def test_bad_durations_say_what_is_accepted(text):
    with pytest.raises(ValueError, match="30m|unit|longer than zero"):
        parse_duration(text)


def test_a_valid_assignment_is_carried_as_data_with_the_defaults(tmp_path):
    config = load_graph_config(write(tmp_path, "graph.yaml", GRAPH))

    ask = assignment_of(config.nodes["ask"].options, config.defaults)
    other = assignment_of(config.nodes["other"].options, config.defaults)

    assert ask == {
        "assign": {
            "groups": ["finance"],
            "users": ["{state.manager}"],
            "permission": "expenses.approve",
            "exclude_owner": True,
        },
        "due": dt.timedelta(hours=4),
        "remind_before": dt.timedelta(minutes=30),
        "on_timeout": {"assign": {"groups": ["finance-leads"]}},
    }
    assert other["due"] == dt.timedelta(days=2)  # defaults.due
    assert other["assign"] is None


@pytest.mark.parametrize(
    ("old", "new", "path", "snippet", "message"),
    [
        (
            "      groups: [finance]",
            "      grups: [finance]",
            "nodes.ask.assign.grups",
            "grups",
            "did you mean 'groups'?",
        ),
        (
            "      exclude_owner: true",
            "      exclude_owner: yes please",
            "nodes.ask.assign.exclude_owner",
            "exclude_owner",
            "true or false",
        ),
        (
            "      permission: expenses.approve",
            "      permission: approve",
            "nodes.ask.assign.permission",
            "permission",
            "app_label.codename",
        ),
        ("    due: 4h", "    due: tomorrow", "nodes.ask.due", "due: tomorrow", "not a duration"),
        (
            "    remind_before: 30m",
            "    remind_before: 5h",
            "nodes.ask.remind_before",
            "remind_before",
            "shorter than 'due'",
        ),
        (
            "      assign: {groups: [finance-leads]}",
            "      asign: {groups: [finance-leads]}",
            "nodes.ask.on_timeout.asign",
            "asign",
            "did you mean 'assign'?",
        ),
        (
            "      assign: {groups: [finance-leads]}",
            "      assign: {groups: [x]}\n      fail: late",
            "nodes.ask.on_timeout",
            "on_timeout",
            "exactly one of",
        ),
        (
            "      assign: {groups: [finance-leads]}",
            "      fail: ''",
            "nodes.ask.on_timeout.fail",
            "fail: ''",
            "message the session fails with",
        ),
        ("  due: 2d", "  due: 2 days", "defaults.due", "due: 2 days", "not a duration"),
    ],
)
def test_each_mistake_is_named_with_its_path_and_line(tmp_path, old, new, path, snippet, message):
    text = GRAPH.replace(old, new, 1)
    _path, issues = issues_of(tmp_path, text)

    matching = [issue for issue in issues if issue.path == path]
    assert matching, "\n".join(map(str, issues))
    assert message in matching[0].message
    assert matching[0].line == line_of(text, snippet)


def test_an_assign_naming_nobody_and_a_timeout_without_due(tmp_path):
    text = """
    nodes:
      ask:
        type: interrupt
        message: "Approve?"
        assign: {exclude_owner: true}
        on_timeout: {answer: "no"}
    edges:
      - {from: START, to: ask}
      - {from: ask, to: END}
    """
    _path, issues = issues_of(tmp_path, text)

    messages = {issue.path: issue.message for issue in issues}
    assert "names nobody" in messages["nodes.ask.assign"]
    assert "needs 'due'" in messages["nodes.ask.on_timeout"]
