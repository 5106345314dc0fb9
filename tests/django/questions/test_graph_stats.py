"""A graph's admin page: per interrupt node, open and overdue questions and the time
to an answer (median, 95th percentile)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from yamlgraph_django import services
from yamlgraph_django.models import Question
from yamlgraph_django.services.inbox import node_statistics

pytestmark = pytest.mark.django_db(transaction=True)


def test_open_overdue_and_answer_times_per_interrupt_node(graphs, people, admin_client):
    sessions = [
        services.start_session(
            "expense", {"amount": 1.0, "requester": "r", "manager": "manager"}, owner=people["lead"]
        )
        for _ in range(4)
    ]
    for index, session in enumerate(sessions[:3]):
        services.resume_session(session, "yes", actor=people["member"], channel="api")
        question = Question.objects.get(session=session)
        # Answered 60, 120 and 600 seconds after it was asked.
        waited = [60, 120, 600][index]
        Question.objects.filter(pk=question.pk).update(
            answered_at=question.created_at + dt.timedelta(seconds=waited)
        )
    Question.objects.filter(session=sessions[3]).update(
        due_at=timezone.now() - dt.timedelta(minutes=1)
    )

    [row] = node_statistics("expense", ["ask_approver"])

    assert (row["open"], row["overdue"], row["answered"]) == (1, 1, 3)
    assert row["median_seconds"] == pytest.approx(120)
    assert 120 < row["p95_seconds"] <= 600
    graph = graphs["expense"]
    page = admin_client.get(
        reverse("admin:yamlgraph_django_graphdefinition_change", args=[graph.pk])
    ).content.decode()
    assert "per interrupt node" in page.lower()
    assert "2 min 0 s" in page  # the median
