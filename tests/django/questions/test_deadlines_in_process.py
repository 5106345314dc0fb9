"""Deadline steps applied in process (what the worker's task and sweeper call): each
applied once however often it is asked, and a hand-on to a group that does not exist
is recorded, not retried forever."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from yamlgraph_django import services
from yamlgraph_django.models import Question
from yamlgraph_django.services.deadlines import apply_deadlines

pytestmark = pytest.mark.django_db(transaction=True)


def test_each_deadline_is_applied_once(graphs, people):
    session = services.start_session("deadline", {}, owner=people["requester"])
    question = Question.objects.get(session=session)
    later = timezone.now() + dt.timedelta(seconds=5)

    first = apply_deadlines(later)
    again = apply_deadlines(later)

    assert first == [f"reminded {question.pk}", f"timed_out {question.pk}"]
    assert again == []
    question.refresh_from_db()
    assert (question.escalation_step, question.status) == (1, "open")
    assert [g.name for g in question.groups.all()] == ["finance-leads"]


def test_a_hand_on_to_a_missing_group_is_recorded_once(graphs, people):
    from django.contrib.auth.models import Group

    Group.objects.filter(name="finance-leads").delete()
    session = services.start_session("deadline", {}, owner=people["requester"])
    question = Question.objects.get(session=session)

    apply_deadlines(timezone.now() + dt.timedelta(seconds=5))
    assert apply_deadlines(timezone.now() + dt.timedelta(seconds=10)) == []

    question.refresh_from_db()
    assert [g.name for g in question.groups.all()] == ["finance"]  # still theirs
    event = question.events.get(kind="reassigned")
    assert "no group named finance-leads" in event.detail["error"]
