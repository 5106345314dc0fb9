"""What people do with questions besides answering them: claim, release and hand on
(the inbox's buttons, the API's actions, `on_timeout: assign`), and how a graph's
questions go (open, overdue, time to an answer). Who may is `services.questions`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from yamlgraph_django.exceptions import InvalidInput, NotAssignee
from yamlgraph_django.models import Question, QuestionEvent
from yamlgraph_django.question_status import QuestionEventKind, QuestionStatus
from yamlgraph_django.services import question_notices
from yamlgraph_django.services.questions import OVERRIDE_PERMISSION, is_assignee, may_reassign

# ------------------------------------------------------------------------ inbox actions


def claim(question: Question, user: Any) -> Question:
    """`user` takes the question on: others see who is on it and may not answer it
    until it is released (except with the override). Only an assignee (or the override)
    may claim; a question claimed by someone else is InvalidInput."""
    _require_open(question)
    if not (user.has_perm(OVERRIDE_PERMISSION) or is_assignee(user, question)):
        raise NotAssignee(f"Question {question.pk} is not assigned to you.")
    stamp = timezone.now()
    unclaimed = {"pk": question.pk, "status": QuestionStatus.OPEN, "claimed_by__isnull": True}
    claimed = {"claimed_by": user, "claimed_at": stamp}
    updated = Question.objects.compare_and_set(unclaimed, claimed, instance=question)
    if not updated:
        question.refresh_from_db()
        if question.claimed_by_id == user.pk:
            return question
        raise InvalidInput(errors={"claimed_by": f"already claimed by {question.claimed_by}"})
    QuestionEvent.objects.create(question=question, kind=QuestionEventKind.CLAIMED, actor=user)
    return question


def release(question: Question, user: Any) -> Question:
    """Give a claimed question back to all its assignees (the claimer or the override)."""
    _require_open(question)
    if question.claimed_by_id is None:
        return question
    if question.claimed_by_id != user.pk and not user.has_perm(OVERRIDE_PERMISSION):
        raise NotAssignee(f"Question {question.pk} is claimed by {question.claimed_by}.")
    Question.objects.filter(pk=question.pk).update(claimed_by=None, claimed_at=None)
    QuestionEvent.objects.create(question=question, kind=QuestionEventKind.RELEASED, actor=user)
    question.claimed_by, question.claimed_at = None, None
    return question


def reassign(
    question: Question,
    *,
    users: list[str] | None = None,
    groups: list[str] | None = None,
    actor: Any = None,
    kind: str = QuestionEventKind.REASSIGNED,
) -> Question:
    """Hand the question to other users and/or groups (names), recorded with `actor`
    (None: the system, e.g. on_timeout). Only its assignees and holders of the override
    may hand it on (NotAssignee otherwise). Unknown names are InvalidInput naming them."""
    if actor is not None and not may_reassign(actor, question):
        raise NotAssignee(f"Question {question.pk} is not assigned to you.")
    _require_open(question)
    users, groups = list(users or []), list(groups or [])
    if not users and not groups:
        raise InvalidInput(errors={"users": "give users and/or groups to hand the question to"})
    user_model = get_user_model()
    found_users = list(
        user_model._default_manager.filter(**{f"{user_model.USERNAME_FIELD}__in": users})
    )
    found_groups = list(Group.objects.filter(name__in=groups))
    errors = {}
    if unknown := sorted(set(users) - {u.get_username() for u in found_users}):
        errors["users"] = f"no user named {', '.join(unknown)}"
    if unknown := sorted(set(groups) - {g.name for g in found_groups}):
        errors["groups"] = f"no group named {', '.join(unknown)}"
    if errors:
        raise InvalidInput(errors=errors)
    with transaction.atomic():
        question.users.set(found_users)
        question.groups.set(found_groups)
        Question.objects.filter(pk=question.pk).update(
            assigned=True, permission=None, claimed_by=None, claimed_at=None
        )
        question.assigned, question.permission, question.claimed_by = True, None, None
        QuestionEvent.objects.create(
            question=question,
            kind=kind,
            actor=actor,
            detail={"users": users, "groups": groups},
        )
        question_notices.on_handed_on(question, question.session)
    return question


def _require_open(question: Question) -> None:
    if question.status != QuestionStatus.OPEN:
        raise InvalidInput(errors={"status": f"question {question.pk} is {question.status}"})


# ------------------------------------------------------------------------ statistics

#: How many of a graph's latest answers the answer times are computed from.
STATS_SAMPLE = 2000


def node_statistics(graph_name: str, nodes: Iterable[str]) -> list[dict[str, Any]]:
    """Per interrupt node of a graph (all versions): open and overdue questions, and the
    median and 95th percentile of the time to an answer (over its latest answers).
    Two queries, whatever the number of questions."""
    from statistics import median, quantiles

    stamp = timezone.now()
    counts = {
        row["node"]: row
        for row in Question.objects.filter(graph_name=graph_name, status=QuestionStatus.OPEN)
        .values("node")
        .annotate(
            open=Count("pk"),
            overdue=Count("pk", filter=Q(due_at__lte=stamp)),
        )
    }
    waits: dict[str, list[float]] = {}
    answered = (
        Question.objects.filter(
            graph_name=graph_name, status=QuestionStatus.ANSWERED, answered_at__isnull=False
        )
        .order_by("-answered_at")
        .values_list("node", "created_at", "answered_at")[:STATS_SAMPLE]
    )
    for node, asked, answered_at in answered:
        waits.setdefault(node, []).append((answered_at - asked).total_seconds())
    rows = []
    for node in nodes:
        times = sorted(waits.get(node, []))
        p95 = None
        if len(times) >= 2:
            p95 = quantiles(times, n=20, method="inclusive")[-1]
        elif times:
            p95 = times[0]
        rows.append(
            {
                "node": node,
                "open": counts.get(node, {}).get("open", 0),
                "overdue": counts.get(node, {}).get("overdue", 0),
                "answered": len(times),
                "median_seconds": median(times) if times else None,
                "p95_seconds": p95,
            }
        )
    return rows
