"""Deadlines of questions: `remind_before`, `due` and `on_timeout`, kept on the worker.

When a question with a due date is opened (`question_opened`, after commit), a Django Task
is scheduled with `run_after` at its reminder and at its due date, where the task backend
can defer (django-tasks-db, RQ); nothing polls in a request. The worker's crash sweeper
(`Sweeper`, `manage.py yamlgraph worker`) calls `sweep` when it starts and on every
round, applying the deadlines missed while no worker ran. Every step is a guarded
UPDATE, so a task and a sweeper (or two workers) never apply one deadline twice; each is
a `QuestionEvent` row (reminded, timed_out, reassigned) and is announced and mailed by
`services.question_notices`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import close_old_connections, transaction
from django.utils import timezone

from yamlgraph_django.exceptions import InvalidInput
from yamlgraph_django.models import Question, QuestionEvent, RunChannel, Session, SessionStatus
from yamlgraph_django.question_status import QuestionEventKind, QuestionStatus
from yamlgraph_django.services import inbox, question_notices
from yamlgraph_django.services.lifecycle import resume_session
from yamlgraph_django.signals import question_opened

try:  # Django >= 6.0
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task

logger = logging.getLogger("yamlgraph_django.questions")


def connect() -> None:
    """Schedule the deadlines of every question opened from now on (idempotent)."""
    question_opened.connect(on_question_opened, dispatch_uid="yamlgraph_question_deadlines")


def on_question_opened(sender: Any, question: Question, **kwargs: Any) -> None:
    schedule(question)


def schedule(question: Question) -> None:
    """Enqueue the deadline task at the reminder and at the due date, where the task
    backend can run a task later; elsewhere the sweeper applies them."""
    moments = [m for m in (question.remind_at, question.due_at) if m is not None]
    if not moments:
        return
    try:
        if not question_deadline.get_backend().supports_defer:
            return
        for moment in moments:
            question_deadline.using(run_after=moment).enqueue(question.pk)
    except Exception:
        logger.exception("could not schedule the deadlines of question %s", question.pk)


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
        question_notices.tell(question, "due_soon", question.session)
    return True


def time_out(question: Question, now: dt.datetime) -> bool:
    """Run the question's `on_timeout` once (guarded: a racing worker does nothing)."""
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
            try:
                with transaction.atomic():
                    inbox.reassign(
                        question,
                        users=list(value.get("users") or []),
                        groups=list(value.get("groups") or []),
                        actor=None,
                    )
            except InvalidInput as exc:  # a group or user of the YAML does not exist
                logger.warning("on_timeout could not hand on question %s: %s", question.pk, exc)
                QuestionEvent.objects.create(
                    question=question,
                    kind=QuestionEventKind.REASSIGNED,
                    detail={"error": exc.detail, **dict(value)},
                )
        elif action in ("answer", "fail"):
            Question.objects.filter(pk=question.pk).update(status=QuestionStatus.TIMED_OUT)
            question.status = QuestionStatus.TIMED_OUT
        question_notices.announce(question, "timed_out", session=question.session)
    if action == "answer":
        answer_for_them(question, value)
    elif action == "fail":
        fail_session(question, str(value))
    return True


def answer_for_them(question: Question, value: Any) -> None:
    """on_timeout: answer: the system answers (a Run with no actor, channel task)."""
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
