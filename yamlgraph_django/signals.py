"""Signals a project connects to, to hear when a session needs someone or has ended.

    from yamlgraph_django.signals import session_interrupted

    @receiver(session_interrupted)
    def tell_the_person_who_must_answer(sender, session, **kwargs):
        send_mail(...)  # session.interrupts holds the question(s)

Each is sent once per transition, after the transaction that wrote it commits (never for
a change that was rolled back), with `sender=Session` and `session=` the row as the
transition wrote it. Receivers run with `send_robust`: one that raises is logged and cannot break
the request or the run that made the change. The session's webhook, if it has one, is
one such receiver (`services.notifications`).

This module imports no model, so the managers can announce a transition from the one
place that writes it (`SessionQuerySet.finish`) without an import circle.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from django.apps import apps
from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger("yamlgraph_django.signals")

#: The session is waiting for an answer (a new question is in `session.interrupts`).
session_interrupted = Signal()
#: The session reached the end of its graph (`session.output` holds the final values).
session_completed = Signal()
#: The run failed (`session.error`); the session stays resumable.
session_failed = Signal()

#: Questions (pending interrupts with assignees): sent after commit with
#: `sender=Question`, `question=` the row and `session=` its session; `question_assigned`
#: (also on a hand-on, to the new assignees) and `question_due_soon` get `recipients=`.
question_assigned = Signal()
question_due_soon = Signal()
question_timed_out = Signal()
question_answered = Signal()

#: Internal: a question with a due date was opened (after commit; `question=`). The
#: deadline keeper (services.deadlines) schedules its reminder and due date.
question_opened = Signal()

QUESTION_SIGNALS: dict[str, Signal] = {
    "assigned": question_assigned,
    "due_soon": question_due_soon,
    "timed_out": question_timed_out,
    "answered": question_answered,
}

SIGNALS: dict[str, Signal] = {
    "interrupted": session_interrupted,
    "completed": session_completed,
    "failed": session_failed,
}


def announce(session: Any, status: str, *, using: str | None = None) -> None:
    """Send the signal of `status` for a session once the current transaction commits.

    `session` is the row as the transition wrote it (a copy is kept, so later changes in
    the same transaction do not show), or its id, loaded after the commit. Statuses
    without a signal (running, pending, cancelled) are ignored, so a caller may pass
    whatever status it wrote.
    """
    signal = SIGNALS.get(str(status))
    if signal is None:
        return
    session_model = apps.get_model("yamlgraph_django", "Session")
    if isinstance(session, session_model):
        snapshot = copy.copy(session)
        transaction.on_commit(lambda: _send(signal, snapshot), using=using)
    else:
        transaction.on_commit(lambda: _load_and_send(signal, session, status, using), using=using)


def _load_and_send(signal: Signal, session_id: Any, status: str, using: str | None) -> None:
    """Load the row as committed and send it; a row deleted meanwhile is skipped."""
    session_model = apps.get_model("yamlgraph_django", "Session")
    manager = session_model._default_manager.db_manager(using)
    session = manager.select_related("graph", "owner").filter(pk=session_id).first()
    if session is None:
        logger.info("session %s was deleted before its %s signal was sent", session_id, status)
        return
    _send(signal, session)


def _send(signal: Signal, session: Any) -> None:
    """Every receiver hears it, even when one raises (Django logs that one)."""
    signal.send_robust(sender=type(session), session=session)
