"""Two clients answering one session at the same moment: one answer runs (200), the other
is refused with 409 `session_busy`, and the session ends up with exactly one answer.

Real threads, each with its own database connection (hence `transaction=True`: the rows
must be committed for the other thread to see them), and a real SQLite checkpoint file
that both threads open. The `slow` graph works half a second after its question, so the
second request arrives while the first one is still running.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.django.api.support import token_header
from tests.django.concurrency import race
from yamlgraph_django.models import RunKind, Session, SessionStatus

ROUNDS = 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_answers_at_once_run_exactly_one(graphs, alice, start, round_):
    session = start("slow")
    url = f"/api/sessions/{session['id']}/resume/"
    token = token_header(alice)

    def answer(value: str) -> Any:
        client = APIClient()  # one client per thread, as two browsers would be
        client.credentials(HTTP_AUTHORIZATION=token)
        return client.post(url, {"value": value}, format="json")

    first, second = race(lambda: answer("first"), lambda: answer("second"))

    assert sorted([first.status_code, second.status_code]) == [200, 409], (first, second)
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    assert loser.json()["code"] == "session_busy"
    assert winner.json()["status"] == "completed"
    value = winner.json()["values"]["answer"]
    stored = Session.objects.get(pk=session["id"])
    assert stored.status == SessionStatus.COMPLETED
    assert stored.output["result"] == f"worked on {value}"
    assert list(stored.runs.filter(kind=RunKind.RESUME).values_list("value", flat=True)) == [value]
