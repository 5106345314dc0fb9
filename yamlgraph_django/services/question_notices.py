"""Telling people about questions (the deadlines themselves are `services.deadlines`).

- When a question is assigned (asked, or handed on), its assignees get an e-mail with a
  link to the answer page, and `question_assigned` is sent; `remind_before` its due
  date they get another (`question_due_soon`); when it is due, its `on_timeout` runs on
  the worker (`question_timed_out`): hand it to others (and tell them), answer it as the
  system, or fail the session. Answers send `question_answered`. Each event also goes to
  the session's webhook as `question.<event>`.
- Deadlines are Django Tasks scheduled with `run_after` at the reminder and the due
  date, so nothing polls in a request; the crash sweeper (`apply_deadlines`, run by the
  worker's `Sweeper`) applies those missed while no worker ran. Every step is a guarded
  UPDATE, so a task and a sweeper (or two workers) never apply one deadline twice.

E-mails are rendered from `yamlgraph_django/email/question_<event>_subject.txt` and
`..._body.txt` (override them in the project's templates); YAMLGRAPH["QUESTION_EMAILS"]
turns them off, ["QUESTION_EMAIL_FROM"] sets the sender, ["SITE_URL"] the link's base.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse

from yamlgraph_django.conf import app_settings
from yamlgraph_django.models import Question, Session
from yamlgraph_django.signals import QUESTION_SIGNALS, question_opened

logger = logging.getLogger("yamlgraph_django.questions")


# --------------------------------------------------------------------- announcements


def announce(
    question: Question,
    event: str,
    *,
    session: Session | None = None,
    recipients: list[Any] | None = None,
) -> None:
    """After commit: send the question signal of `event` and queue the webhook event."""
    session_id = question.session_id

    def send() -> None:
        current = session
        if current is None or current.pk != session_id:
            current = Session.objects.select_related("graph").filter(pk=session_id).first()
        if current is None:
            return
        QUESTION_SIGNALS[event].send_robust(
            sender=Question, question=question, session=current, recipients=recipients or []
        )
        queue_webhook(question, current, event)

    transaction.on_commit(send)


def question_body(question: Question, event: str) -> dict[str, Any]:
    """What the session's webhook receives for a question event."""
    return {
        "event": f"question.{event}",
        "id": question.pk,
        "session": str(question.session_id),
        "interrupt_id": question.interrupt_id,
        "node": question.node,
        "graph": question.graph_name,
        "text": question.text,
        "status": question.status,
        "due_at": question.due_at,
        "escalation_step": question.escalation_step,
        "answered_by": question.answered_by.get_username() if question.answered_by else None,
        "answered_at": question.answered_at,
    }


def queue_webhook(question: Question, session: Session, event: str) -> None:
    if not session.webhook:
        return
    from yamlgraph_django.services.webhooks import deliver_webhook

    name = f"question.{event}"
    payload = json.dumps(question_body(question, event), cls=DjangoJSONEncoder)
    try:
        deliver_webhook.enqueue(str(session.pk), name, 0, url=session.webhook, payload=payload)
    except Exception:
        logger.exception("could not enqueue the %s webhook of session %s", name, session.pk)


# ----------------------------------------------------------------------------- e-mail


def recipients(question: Question, session: Session | None = None) -> list[Any]:
    """Active users with an e-mail address the question waits for (named, in a group,
    or holding its permission directly or through a group), without an excluded owner."""
    user_model = get_user_model()
    condition = Q(yamlgraph_questions=question.pk) | Q(groups__yamlgraph_questions=question.pk)
    if question.permission_id:
        condition |= Q(user_permissions=question.permission_id)
        condition |= Q(groups__permissions=question.permission_id)
    users = user_model._default_manager.filter(condition, is_active=True).exclude(email="")
    owner_id = session.owner_id if session is not None else None
    if question.exclude_owner and owner_id is not None:
        users = users.exclude(pk=owner_id)
    return list(users.distinct().order_by("pk"))


def answer_url(question: Question) -> str:
    """The page where the question is answered: the admin inbox, at this question."""
    try:
        path = reverse("admin:yamlgraph_django_question_inbox")
    except NoReverseMatch:
        path = "/admin/"
    return f"{str(app_settings.SITE_URL).rstrip('/')}{path}#question-{question.pk}"


def send_email(question: Question, event: str, users: list[Any], session: Session) -> int:
    """Mail `users` about `event` (assigned, due_soon, handed_on); returns how many went.
    A mail server that fails is logged: a question is never lost for a mail."""
    if not app_settings.QUESTION_EMAILS or not users:
        return 0
    context = {
        "question": question,
        "session": session,
        "graph": question.graph_name,
        "url": answer_url(question),
        "event": event,
    }
    subject = render_to_string(f"yamlgraph_django/email/question_{event}_subject.txt", context)
    body = render_to_string(f"yamlgraph_django/email/question_{event}_body.txt", context)
    subject = " ".join(subject.split())
    sender = app_settings.QUESTION_EMAIL_FROM
    messages = [EmailMessage(subject, body, sender, [user.email]) for user in users if user.email]
    try:
        return get_connection().send_messages(messages) or 0
    except Exception:
        logger.exception("could not send the %s e-mail of question %s", event, question.pk)
        return 0


def tell(question: Question, event: str, session: Session | None) -> None:
    """After commit: e-mail the question's assignees about `event` and send its signal."""

    def send() -> None:
        current = session or Session.objects.filter(pk=question.session_id).first()
        if current is None:
            return
        users = recipients(question, current)
        send_email(question, event, users, current)
        # A hand-on (a reassignment, or on_timeout: assign) assigns it to new people.
        signal = {"handed_on": "assigned"}.get(event, event)
        QUESTION_SIGNALS[signal].send_robust(
            sender=Question, question=question, session=current, recipients=users
        )
        queue_webhook(question, current, signal)

    transaction.on_commit(send)


def on_opened(question: Question, session: Session) -> None:
    """A question was just asked: tell its assignees; once committed, `question_opened`
    lets the deadline keeper (`services.deadlines`) schedule its reminder and due date."""
    if question.assigned:
        tell(question, "assigned", session)
    if question.due_at is not None:
        transaction.on_commit(
            lambda: question_opened.send_robust(sender=Question, question=question)
        )


def on_handed_on(question: Question, session: Session) -> None:
    """A question was reassigned (by a person or on timeout): tell the new assignees."""
    tell(question, "handed_on", session)
