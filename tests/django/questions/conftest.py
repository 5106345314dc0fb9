"""Fixtures for the questions tests: an expense graph whose question is assigned to the
`finance` group and to the manager named in the state (never to its requester), and
people around it: the requester (in finance, but excluded as the owner), a finance
member, the manager, an outsider, a finance lead, and a holder of the override."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from yamlgraph_django import services
from yamlgraph_django.models import GraphDefinition, Session

EXPENSE = """
    version: "1.0"
    name: expense
    description: An expense that finance approves.
    state:
      amount: float
      requester: str
      manager: str
      decision: str
    nodes:
      ask_approver:
        type: interrupt
        message:
          question: "Approve {state.requester}'s expense of {state.amount}?"
          choices: ["yes", "no"]
        resume_key: decision
        assign:
          groups: [finance]
          users: ["{state.manager}"]
          exclude_owner: true
    edges:
      - {from: START, to: ask_approver}
      - {from: ask_approver, to: END}
"""

#: Reminded after 1 s, due after 2 s, then handed to finance-leads.
DEADLINE = """
    version: "1.0"
    name: deadline
    description: A question that must be answered within two seconds.
    state:
      decision: str
    nodes:
      ask:
        type: interrupt
        message: {question: "Approve the invoice?", choices: ["yes", "no"]}
        resume_key: decision
        assign: {groups: [finance]}
        due: 2s
        remind_before: 1s
        on_timeout:
          assign: {groups: [finance-leads]}
    edges:
      - {from: START, to: ask}
      - {from: ask, to: END}
"""

#: Answered "no" by the system when nobody answers within a second.
AUTO = """
    version: "1.0"
    name: auto
    description: A question answered for them when nobody does in time.
    state:
      decision: str
    nodes:
      ask:
        type: interrupt
        message: {question: "Keep the subscription?", choices: ["yes", "no"]}
        resume_key: decision
        assign: {groups: [finance]}
        due: 1s
        on_timeout: {answer: "no"}
    edges:
      - {from: START, to: ask}
      - {from: ask, to: END}
"""

#: Fails the session when nobody answers within a second.
FAILING = """
    version: "1.0"
    name: failing
    description: A question whose silence fails the session.
    state:
      decision: str
    nodes:
      ask:
        type: interrupt
        message: "Sign the contract?"
        resume_key: decision
        assign: {users: [manager]}
        due: 1s
        on_timeout: {fail: "nobody signed in time"}
    edges:
      - {from: START, to: ask}
      - {from: ask, to: END}
"""

QUESTION_GRAPHS = {
    "expense.yaml": EXPENSE,
    "deadline.yaml": DEADLINE,
    "auto.yaml": AUTO,
    "failing.yaml": FAILING,
}


@pytest.fixture
def graphs(register_graphs: Callable[..., dict[str, GraphDefinition]]) -> dict[str, Any]:
    return register_graphs(graphs=QUESTION_GRAPHS)


@pytest.fixture
def people(db: None, django_user_model: Any) -> dict[str, Any]:
    """requester, member, manager, outsider, lead, overrider (all with e-mail)."""
    finance = Group.objects.create(name="finance")
    leads = Group.objects.create(name="finance-leads")
    made = {}
    for name in ("requester", "member", "manager", "outsider", "lead", "overrider"):
        made[name] = django_user_model.objects.create_user(name, email=f"{name}@example.com")
    made["requester"].groups.add(finance)  # in finance, but it is their own expense
    made["member"].groups.add(finance)
    made["lead"].groups.add(leads)
    made["overrider"].user_permissions.add(Permission.objects.get(codename="answer_any_question"))
    return made


@pytest.fixture
def expense(graphs: Any, people: dict[str, Any]) -> Session:
    """An expense of the requester, waiting for finance or their manager."""
    return services.start_session(
        "expense",
        {"amount": 120.0, "requester": "requester", "manager": "manager"},
        owner=people["requester"],
    )


def api_client(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client
