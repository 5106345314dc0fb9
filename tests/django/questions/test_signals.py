"""Question events for a project: the signals question_assigned and question_answered
(with the row, its session and who was told), the same events on the session's webhook,
and the assignment e-mail in Django's outbox."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core import mail
from django.test import override_settings

from tests.django.webhook_receiver import (
    IMMEDIATE,
    LOCAL_RECEIVER,
    SECRET,
    WebhookReceiver,
    signed,
)
from yamlgraph_django import services
from yamlgraph_django.signals import question_answered, question_assigned

pytestmark = pytest.mark.django_db(transaction=True)


def test_assigned_and_answered_are_signals_webhook_events_and_mail(
    graphs, people, yamlgraph_settings
):
    heard: list[tuple[str, Any, list[str]]] = []

    def on_assigned(sender, question, session, recipients, **kwargs):
        heard.append(("assigned", question.node, sorted(u.username for u in recipients)))

    def on_answered(sender, question, session, **kwargs):
        heard.append(("answered", question.answered_by.username, []))

    question_assigned.connect(on_assigned)
    question_answered.connect(on_answered)
    settings = {**yamlgraph_settings, **LOCAL_RECEIVER, "WEBHOOK_SECRET": SECRET}
    try:
        with override_settings(YAMLGRAPH=settings, TASKS=IMMEDIATE), WebhookReceiver() as hook:
            session = services.start_session(
                "expense",
                {"amount": 9.5, "requester": "requester", "manager": "manager"},
                owner=people["requester"],
                webhook=hook.url,
            )
            services.resume_session(session, "yes", actor=people["member"], channel="api")
            events = []
            for headers, body in hook.accepted:
                assert signed(headers, body)
                events.append(json.loads(body)["event"])
    finally:
        question_assigned.disconnect(on_assigned)
        question_answered.disconnect(on_answered)

    # The requester is in finance, but it is their expense: they are not told.
    assert heard == [
        ("assigned", "ask_approver", ["manager", "member"]),
        ("answered", "member", []),
    ]
    assert sorted(events) == [
        "question.answered",
        "question.assigned",
        "session.completed",
        "session.interrupted",
    ]
    assert sorted(message.to[0] for message in mail.outbox) == [
        "manager@example.com",
        "member@example.com",
    ]
    assert (
        mail.outbox[0].subject
        == "[expense] A question waits for you: Approve requester's expense of 9.5?"
    )
