"""Telling people about questions, and keeping their deadlines.

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

import datetime as dt
import json
import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from yamlgraph_django.conf import app_settings
from yamlgraph_django.models import Question, QuestionEvent, RunChannel, Session, SessionStatus
from yamlgraph_django.question_status import QuestionEventKind, QuestionStatus
from yamlgraph_django.signals import QUESTION_SIGNALS

try:  # Django >= 6.0
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task

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
        signal = {"handed_on": "timed_out"}.get(event, event)
        if event == "handed_on":
            return  # the timed_out signal is sent by the timeout itself
        QUESTION_SIGNALS[signal].send_robust(
            sender=Question, question=question, session=current, recipients=users
        )
        queue_webhook(question, current, signal)

    transaction.on_commit(send)


def on_opened(question: Question, session: Session) -> None:
    """A question was just asked: tell its assignees, schedule its deadlines."""
    if question.assigned:
        tell(question, "assigned", session)
    schedule(question)


def on_handed_on(question: Question, session: Session) -> None:
    """A question was reassigned (by a person or on timeout): tell the new assignees."""
    tell(question, "handed_on", session)


# -------------------------------------------------------------------------- deadlines


def schedule(question: Question) -> None:
    """Enqueue the deadline task at the reminder and at the due date (after commit),
    where the task backend can run a task later; elsewhere the sweeper applies them."""
    moments = [m for m in (question.remind_at, question.due_at) if m is not None]
    if not moments:
        return
    question_id = question.pk

    def enqueue() -> None:
        try:
            backend = question_deadline.get_backend()
            if not backend.supports_defer:
                return
            for moment in moments:
                question_deadline.using(run_after=moment).enqueue(question_id)
        except Exception:
            logger.exception("could not schedule the deadlines of question %s", question_id)

    transaction.on_commit(enqueue)


@task()
def question_deadline(question_id: int) -> str:
    """Apply what is due of one question (reminder, timeout); run at its `run_after`."""
    applied = apply_deadlines(ids=[question_id])
    return ",".join(applied) or "nothing due"


def apply_deadlines(now: dt.datetime | None = None, ids: list[int] | None = None) -> list[str]:
    """Send the reminders and run the timeouts that are due (of `ids`, or all: the
    sweeper's catch-up). Returns what was done, e.g. ["reminded 3", "timed_out 3"]."""
    now = now or timezone.now()
    done: list[str] = []
    open_questions = Question.objects.open()
    if ids is not None:
        open_questions = open_questions.filter(pk__in=ids)
    for question in open_questions.filter(
        remind_at__lte=now, reminded_at__isnull=True, timed_out_at__isnull=True
    ).select_related("session"):
        if remind(question, now):
            done.append(f"reminded {question.pk}")
    for question in open_questions.filter(
        due_at__lte=now, timed_out_at__isnull=True
    ).select_related("session", "session__graph"):
        if time_out(question, now):
            done.append(f"timed_out {question.pk}")
    return done


def remind(question: Question, now: dt.datetime) -> bool:
    with transaction.atomic():
        won = Question.objects.filter(
            pk=question.pk, status=QuestionStatus.OPEN, reminded_at__isnull=True
        ).update(reminded_at=now)
        if not won:
            return False
        question.reminded_at = now
        QuestionEvent.objects.create(question=question, kind=QuestionEventKind.REMINDED)
        tell(question, "due_soon", question.session)
    return True


def time_out(question: Question, now: dt.datetime) -> bool:
    """Run the question's `on_timeout` once (guarded: a racing worker does nothing)."""
    from yamlgraph_django.services import questions

    policy = question.on_timeout or {}
    with transaction.atomic():
        won = Question.objects.filter(
            pk=question.pk, status=QuestionStatus.OPEN, timed_out_at__isnull=True
        ).update(timed_out_at=now)
        if not won:
            return False
        question.timed_out_at = now
        action, value = next(iter(policy.items())) if policy else (None, None)
        QuestionEvent.objects.create(
            question=question,
            kind=QuestionEventKind.TIMED_OUT,
            detail={"action": action, "value": value},
        )
        if action == "assign":
            Question.objects.filter(pk=question.pk).update(
                escalation_step=question.escalation_step + 1
            )
            question.escalation_step += 1
            questions.reassign(
                question,
                users=list(value.get("users") or []),
                groups=list(value.get("groups") or []),
                actor=None,
            )
        elif action in ("answer", "fail"):
            Question.objects.filter(pk=question.pk).update(status=QuestionStatus.TIMED_OUT)
            question.status = QuestionStatus.TIMED_OUT
        announce(question, "timed_out", session=question.session)
    if action == "answer":
        answer_for_them(question, value)
    elif action == "fail":
        fail_session(question, str(value))
    return True


def answer_for_them(question: Question, value: Any) -> None:
    """on_timeout: answer: the system answers (a Run with no actor, channel task)."""
    from yamlgraph_django.services.lifecycle import resume_session

    try:
        resume_session(
            question.session_id,
            values={question.interrupt_id: value},
            actor=None,
            channel=RunChannel.TASK,
            background=False,
        )
    except Exception:
        logger.exception("on_timeout could not answer question %s", question.pk)
        Question.objects.filter(pk=question.pk).update(status=QuestionStatus.OPEN)


def fail_session(question: Question, message: str) -> None:
    """on_timeout: fail: the session fails with the message (it stays resumable)."""
    session = Session.objects.select_related("graph").filter(pk=question.session_id).first()
    if session is None or session.status != SessionStatus.INTERRUPTED:
        return
    try:
        lease = Session.objects.claim(session, action="fail")
        Session.objects.finish(
            session,
            lease,
            status=SessionStatus.FAILED,
            error=f"timed out: {message}",
            interrupts=session.interrupts,
            output=None,
        )
    except Exception:
        logger.exception("on_timeout could not fail session %s", session.pk)


def sweep() -> list[str]:
    """The sweeper's part: deadlines missed while no worker ran (never raises)."""
    try:
        close_old_connections()
        return apply_deadlines()
    except Exception:
        logger.warning("deadline sweep failed; trying again later", exc_info=True)
        return []
