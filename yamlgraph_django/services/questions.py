"""Questions with owners: who may answer a pending interrupt, and the `Question` rows that
say so (one per pending interrupt, kept in step with the session by the service).

The rule is part of the rulebook (services.rules.SessionRules asks `assignment_allows`
when someone answers or writes the state, and `visible_to_assignee` for who sees what):
a question with assignees (`assign:` on its interrupt node, or `defaults.assign`, or a
reassignment) may be answered only by them, or by holders of
`yamlgraph_django.answer_any_question`; the session's owner answers only as an assignee,
and never with `exclude_owner`; a claimed question only by the one who claimed it (or
the override). A question without assignees follows the owner rules. An assignee may
read the session they must answer.

    rules.authorize_answer(user, session, ["<interrupt id>"])         # asks this module
    record_outcome(session, run=run, snapshot=snapshot)               # after a run's end
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Exists, Q, QuerySet
from django.utils import timezone

from yamlgraph.assignment import assignment_of
from yamlgraph.templates import render
from yamlgraph_django.exceptions import NotAssignee
from yamlgraph_django.models import (
    Question,
    QuestionEvent,
    Run,
    RunKind,
    Session,
    SessionStatus,
)
from yamlgraph_django.question_status import QuestionEventKind, QuestionStatus
from yamlgraph_django.services import question_notices
from yamlgraph_django.services.snapshots import node_name
from yamlgraph_django.services.stores import graph_config

logger = logging.getLogger("yamlgraph_django.questions")

OVERRIDE_PERMISSION = "yamlgraph_django.answer_any_question"


# ------------------------------------------------------------------------ the rule


def is_assignee(user: Any, question: Question) -> bool:
    """Is `user` named by the question (directly, a group, or a permission they hold)?"""
    if user is None or not user.is_authenticated:
        return False
    return Question.objects.filter(pk=question.pk).filter(Question.objects.audience(user)).exists()


def may_answer(user: Any, session: Session, question: Question) -> bool:
    """May `user` answer `question` of `session`? Without assignees: yes (the doors'
    owner rules decide). With them: an assignee who has not been excluded as the owner,
    when nobody else holds the claim; or a holder of the override permission."""
    if not question.assigned:
        return True
    if user is None or not user.is_authenticated:
        return False
    if user.has_perm(OVERRIDE_PERMISSION):
        return True
    if question.exclude_owner and session.owner_id == user.pk:
        return False
    if question.claimed_by_id is not None and question.claimed_by_id != user.pk:
        return False
    return is_assignee(user, question)


def may_reassign(user: Any, question: Question) -> bool:
    """May `user` hand `question` to others? Its assignees and the override may."""
    if user is None or not user.is_authenticated:
        return False
    return user.has_perm(OVERRIDE_PERMISSION) or is_assignee(user, question)


def latest_questions(
    session: Session, interrupt_ids: Iterable[str]
) -> tuple[dict[str, Question], list[Question]]:
    """(interrupt id -> its newest row, open or settled; every open row of the session),
    in one query."""
    ids = [str(i) for i in interrupt_ids]
    rows: dict[str, Question] = {}
    open_rows: list[Question] = []
    found = Question.objects.filter(session=session.pk).filter(
        Q(status=QuestionStatus.OPEN) | Q(interrupt_id__in=ids)
    )
    for row in found.order_by("-id"):
        if row.interrupt_id in ids:
            rows.setdefault(row.interrupt_id, row)
        if row.status == QuestionStatus.OPEN:
            open_rows.append(row)
    return rows, open_rows


def answered_questions(session: Session, target: Iterable[str] | None) -> list[Question]:
    """The question rows an answer to `target` (interrupt ids; None: whatever is
    pending) settles: their newest rows, open or settled; every open row when `target`
    is None or names an id without a row (an answer by value that happens to be a
    mapping). Keeps the open rows on the session (`session.open_questions`) so that
    recording the run's outcome reads nothing again."""
    ids = [] if target is None else [str(i) for i in target]
    rows, session.open_questions = latest_questions(session, ids)
    found = list(rows.values())
    if target is None or any(i not in rows for i in ids):
        found += [q for q in session.open_questions if q.interrupt_id not in rows]
    return found


def assignment_allows(user: Any, session: Session, target: Iterable[str] | None) -> bool | None:
    """The assignment rule of the rulebook (services.rules.SessionRules) for answering
    `target` of `session`: None when no assigned question is answered (the owner rules
    decide), True when `user` may answer every assigned one, False for an anonymous
    caller; NotAssignee (403) saying why for anyone else. The rulebook has already
    checked that `user` may see the session (the owner, staff, an assignee)."""
    assigned = [row for row in answered_questions(session, target) if row.assigned]
    if not assigned:
        return None
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    for row in assigned:
        if may_answer(user, session, row):
            continue
        claimed_by_other = row.claimed_by_id is not None and row.claimed_by_id != user.pk
        if claimed_by_other and is_assignee(user, row):
            raise NotAssignee(
                f"Question {row.pk} is claimed by {row.claimed_by}; it can be answered "
                "by them, or by others once they release it."
            )
        raise NotAssignee(
            f"Question {row.pk} ({row.node}) is assigned to {describe_assignees(row)}"
            + ("; the session's owner may not answer it." if row.exclude_owner else ".")
        )
    return True


def waits_for(user: Any, session: Session) -> bool:
    """Has `session` an open question waiting for `user` (so they may read it)?"""
    return visible_to_assignee(user, Session.objects.filter(pk=session.pk)).exists()


def describe_assignees(question: Question) -> str:
    """ "users alice, bob; group finance; permission expenses.approve" (for messages)."""
    parts = []
    users = [u.get_username() for u in question.users.all()]
    groups = [g.name for g in question.groups.all()]
    if users:
        parts.append("user" + ("s " if len(users) > 1 else " ") + ", ".join(users))
    if groups:
        parts.append("group" + ("s " if len(groups) > 1 else " ") + ", ".join(groups))
    if question.permission_id:
        permission = question.permission
        parts.append(f"holders of {permission.content_type.app_label}.{permission.codename}")
    return "; ".join(parts) or "nobody"


def visible_to_assignee(user: Any, queryset: QuerySet[Session]) -> QuerySet[Session]:
    """The sessions of `queryset` with an open question waiting for `user` (for a holder
    of the override permission: any open question)."""
    if user is None or not user.is_authenticated:
        return queryset.none()
    waiting = Question.objects.open()
    if not user.is_superuser:  # the override is read in the same query, as owner_or_staff
        override = Permission.objects.filter(
            codename="answer_any_question", content_type__app_label="yamlgraph_django"
        ).filter(Q(user=user.pk) | Q(group__user=user.pk))
        waiting = waiting.filter(Question.objects.audience(user) | Q(Exists(override)))
    return queryset.filter(pk__in=waiting.values("session_id"))


# ----------------------------------------------------------------- keeping rows in step


def question_text(value: Any) -> str:
    """The question as a person reads it: the text, or a dict's `question`/`message`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("question", "message", "text", "prompt"):
            if isinstance(value.get(key), str):
                return value[key]
    return "" if value is None else str(value)


def nodes_by_interrupt(session: Session, snapshot: Any) -> dict[str, str]:
    """Interrupt id -> the YAML name of the node that asked it, from the snapshot."""
    if snapshot is None or session.graph_id is None:
        return {}
    config = graph_config(session.graph)
    found: dict[str, str] = {}
    for task in getattr(snapshot, "tasks", None) or ():
        for interrupt in task.interrupts or ():
            found[interrupt.id] = node_name(config, task.name)
    return found


def record_outcome(session: Session, *, run: Run | None = None, snapshot: Any = None) -> None:
    """After a run's outcome is written on `session`: settle the open questions it no
    longer waits for (answered by the run's actor, or cancelled), and open a row for
    each new pending interrupt, with its assignees and deadlines.

    Never raises: the session's outcome is already recorded; a failure here is logged,
    and the rows are set right by the session's next run outcome (nothing repairs them
    before that: a question row may then be missing from the inbox).
    """
    try:
        _record_outcome(session, run, snapshot)
    except Exception:
        logger.exception("could not record the questions of session %s", session.pk)


def _record_outcome(session: Session, run: Run | None, snapshot: Any) -> None:
    status = session.status
    pending = {}
    if status == SessionStatus.INTERRUPTED:
        pending = {str(i["id"]): i for i in session.interrupts or [] if isinstance(i, dict)}
    known = getattr(session, "open_questions", None)
    fresh_start = run is not None and run.kind == RunKind.START and known is None
    if known is None and not fresh_start:
        known = list(Question.objects.open().filter(session=session.pk))
    known = known or []
    session.open_questions = None
    stamp = timezone.now()
    settled = [q for q in known if q.interrupt_id not in pending]
    if settled:
        if status == SessionStatus.CANCELLED:
            close(settled, QuestionStatus.CANCELLED, stamp)
        else:
            actor = run.actor if run is not None and run.kind == RunKind.RESUME else None
            close(settled, QuestionStatus.ANSWERED, stamp, answered_by=actor, session=session)
    open_ids = {q.interrupt_id for q in known}
    new = [item for key, item in pending.items() if key not in open_ids]
    if new:
        open_questions(session, new, snapshot, stamp)


def close(
    questions: list[Question],
    status: str,
    stamp: Any,
    *,
    answered_by: Any = None,
    session: Session | None = None,
) -> None:
    """Settle open questions (one UPDATE); an answer is audited and announced."""
    fields: dict[str, Any] = {"status": status}
    if status == QuestionStatus.ANSWERED:
        fields.update(answered_by=answered_by, answered_at=stamp)
    ids = [q.pk for q in questions]
    Question.objects.compare_and_set({"pk__in": ids, "status": QuestionStatus.OPEN}, fields)
    if status != QuestionStatus.ANSWERED:
        return
    assigned = [q for q in questions if q.assigned]
    for question in questions:
        for name, value in fields.items():
            setattr(question, name, value)
    if assigned:
        QuestionEvent.objects.bulk_create(
            [
                QuestionEvent(question=q, kind=QuestionEventKind.ANSWERED, actor=answered_by)
                for q in assigned
            ]
        )
    for question in assigned:
        question_notices.announce(question, "answered", session=session)


def open_questions(
    session: Session, pending: list[dict[str, Any]], snapshot: Any, stamp: Any
) -> list[Question]:
    """Insert a row per new pending interrupt, assigned as its node says."""
    nodes = nodes_by_interrupt(session, snapshot)
    config = graph_config(session.graph) if session.graph_id is not None else None
    values = dict(getattr(snapshot, "values", None) or {})
    rows: list[tuple[Question, dict[str, Any] | None]] = []
    for item in pending:
        node = nodes.get(str(item["id"]), "")
        spec = config.nodes.get(node) if config is not None else None
        plan = None
        if spec is not None and spec.type == "interrupt":
            plan = assignment_of(spec.options, config.defaults if config is not None else {})
        question = Question(
            session=session,
            interrupt_id=str(item["id"]),
            node=node,
            graph_name=session.graph.name if session.graph_id is not None else "",
            text=question_text(item.get("value")),
            value=item.get("value"),
            created_at=stamp,
        )
        assign = plan["assign"] if plan else None
        if plan:
            if plan["due"] is not None:
                question.due_at = stamp + plan["due"]
                if plan["remind_before"] is not None:
                    question.remind_at = question.due_at - plan["remind_before"]
            question.on_timeout = plan["on_timeout"]
        if assign:
            question.assigned = True
            question.exclude_owner = assign["exclude_owner"]
        rows.append((question, assign))
    assigned = [(q, a) for q, a in rows if a]
    if not assigned and len(rows) == 1:  # one INSERT, no transaction around it
        rows[0][0].save(force_insert=True)
    elif not assigned:
        Question.objects.bulk_create([q for q, _ in rows])
    else:
        with transaction.atomic():
            _insert_assigned(rows, assigned, values)
    for question, _assign in rows:
        if question.assigned or question.due_at is not None:
            question_notices.on_opened(question, session)
    return [q for q, _ in rows]


def _insert_assigned(
    rows: list[tuple[Question, dict[str, Any] | None]],
    assigned: list[tuple[Question, dict[str, Any]]],
    values: dict[str, Any],
) -> None:
    Question.objects.bulk_create([q for q, _ in rows])
    for question, assign in assigned:
        set_assignees(question, assign, values)
    if assigned:
        QuestionEvent.objects.bulk_create(
            [
                QuestionEvent(
                    question=q, kind=QuestionEventKind.ASSIGNED, detail=assignee_detail(a)
                )
                for q, a in assigned
            ]
        )


def assignee_detail(assign: dict[str, Any]) -> dict[str, Any]:
    return {k: assign.get(k) for k in ("users", "groups", "permission") if assign.get(k)}


def set_assignees(question: Question, assign: dict[str, Any], state: dict[str, Any]) -> None:
    """Resolve `assign` (usernames templated over the state, group names, a permission)
    to rows and set them on the question. Names that match nobody are logged."""
    usernames = []
    for template in assign.get("users") or []:
        try:
            rendered = render(template, state)
        except Exception:
            logger.warning("question %s: cannot render assignee %r", question.pk, template)
            continue
        for name in rendered if isinstance(rendered, list) else [rendered]:
            if name not in (None, ""):
                usernames.append(str(name))
    user_model = get_user_model()
    users = list(
        user_model._default_manager.filter(**{f"{user_model.USERNAME_FIELD}__in": usernames})
    )
    groups = list(Group.objects.filter(name__in=assign.get("groups") or []))
    missing = set(usernames) - {u.get_username() for u in users}
    missing |= set(assign.get("groups") or []) - {g.name for g in groups}
    if missing:
        logger.warning("question %s: no user or group named %s", question.pk, sorted(missing))
    question.users.set(users)
    question.groups.set(groups)
    permission = assign.get("permission") or ""
    found = None
    if permission:
        app_label, _, codename = permission.partition(".")
        found = Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).first()
        if found is None:
            logger.warning("question %s: no permission %s", question.pk, permission)
    if question.permission_id != (found.pk if found else None):
        question.permission = found
        Question.objects.filter(pk=question.pk).update(permission=found)


def cancel_open(session: Session) -> None:
    """A session was cancelled: its open questions are too."""
    Question.objects.open().filter(session=session.pk).update(status=QuestionStatus.CANCELLED)
