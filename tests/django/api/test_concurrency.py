"""Two clients answering one session at the same moment: one answer runs (200), the other
is refused with 409 `session_busy`, and the session ends up with exactly one answer.

Real threads, each with its own database connection (hence `transaction=True`: the rows
must be committed for the other thread to see them), and a real SQLite checkpoint file
that both threads open. The `slow` graph works half a second after its question, so the
second request arrives while the first one is still running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.django.api.support import token_header
from yamlgraph_django.models import RunKind, Session, SessionStatus

ROUNDS = 3


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together by a barrier; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def worker(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = call()
        except Exception as exc:  # reported by the assertions
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


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
