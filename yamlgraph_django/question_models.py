"""Questions: one row per pending interrupt of a session, with who must answer it, by
when, who is on it and who answered. The index that inboxes, deadlines, reminders and
statistics read; the checkpoint stays the truth of what the graph waits for.

Imported by `yamlgraph_django.models` (one models module for Django).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from yamlgraph_django.guarded import GuardedQuerySet
from yamlgraph_django.question_status import QuestionEventKind, QuestionStatus


class QuestionQuerySet(GuardedQuerySet):
    """Who a question waits for, as SQL: each filter is one query with the rest."""

    def open(self) -> QuestionQuerySet:
        return self.filter(status=QuestionStatus.OPEN)

    def audience(self, user: Any) -> Q:
        """Questions assigned to `user`: by name, through one of their groups, or to a
        permission they hold (a superuser holds every permission, as in Django).

        One `pk IN (... UNION ...)` of three indexed id lookups: the database starts
        from the user's own assignments, so the cost follows how many questions the user
        has, not how many questions there are."""
        if user is None or not user.is_authenticated:
            return Q(pk__in=[])
        users = Question.users.through.objects.filter(user_id=user.pk).values("question_id")
        groups = Question.groups.through.objects.filter(group__user=user.pk).values("question_id")
        if user.is_superuser:
            held = Question.objects.filter(permission__isnull=False)
        else:
            permissions = Permission.objects.filter(Q(user=user.pk) | Q(group__user=user.pk))
            held = Question.objects.filter(
                status=QuestionStatus.OPEN, permission__in=permissions.values("pk")
            )
        return Q(pk__in=users.union(groups, held.order_by().values("pk"), all=True))

    def for_user(self, user: Any) -> QuestionQuerySet:
        """Open questions waiting for `user`, theirs by name (or claimed by them) first,
        then the soonest due."""
        if user is None or not user.is_authenticated:
            return self.none()
        mine = Q(
            pk__in=Question.users.through.objects.filter(user_id=user.pk).values("question_id")
        ) | Q(claimed_by=user.pk)
        return (
            self.open()
            .filter(self.audience(user))
            .annotate(
                is_mine=models.Case(
                    models.When(mine, then=models.Value(True)),
                    default=models.Value(False),
                    output_field=models.BooleanField(),
                )
            )
            .order_by("-is_mine", models.F("due_at").asc(nulls_last=True), "created_at", "pk")
        )

    def overdue(self, stamp: Any = None) -> QuestionQuerySet:
        return self.open().filter(due_at__lte=stamp or timezone.now())


OPEN = Q(status="open")


class Question(models.Model):
    """A pending (or settled) interrupt of a session and who must answer it."""

    id = models.BigAutoField(primary_key=True)
    session = models.ForeignKey(
        "yamlgraph_django.Session", on_delete=models.CASCADE, related_name="questions"
    )
    interrupt_id = models.CharField(max_length=200)
    node = models.CharField(max_length=200, blank=True, help_text=_("Interrupt node that asks"))
    graph_name = models.CharField(max_length=200, blank=True)
    text = models.TextField(blank=True, help_text=_("The question as a person reads it"))
    value = models.JSONField(null=True, blank=True, help_text=_("The interrupt's value"))
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="yamlgraph_questions"
    )
    groups = models.ManyToManyField(Group, blank=True, related_name="yamlgraph_questions")
    permission = models.ForeignKey(
        Permission, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned = models.BooleanField(
        default=False, help_text=_("Has assignees: only they (or the override) may answer")
    )
    exclude_owner = models.BooleanField(default=False)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="yamlgraph_claimed_questions",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    timed_out_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When its due date passed and on_timeout ran")
    )
    on_timeout = models.JSONField(
        null=True, blank=True, help_text=_("What happens when it is due: assign, answer or fail")
    )
    escalation_step = models.PositiveSmallIntegerField(
        default=0, help_text=_("How often it was handed on by on_timeout")
    )
    status = models.CharField(
        max_length=20, choices=QuestionStatus.choices, default=QuestionStatus.OPEN
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="yamlgraph_answered_questions",
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = QuestionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # Open questions are found through partial indexes (WHERE status = 'open'): none
        # starts with `status`, so an inbox query starts from the user's own assignments
        # (an id lookup) instead of walking every open question.
        indexes = [
            models.Index(fields=["due_at"], condition=OPEN, name="yamlgraph_question_due"),
            models.Index(fields=["remind_at"], condition=OPEN, name="yamlgraph_question_remind"),
            models.Index(fields=["session", "status"], name="yamlgraph_question_session"),
            models.Index(fields=["graph_name", "node", "status"], name="yamlgraph_question_node"),
            models.Index(
                fields=["answered_by", "-answered_at"], name="yamlgraph_question_answered"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "interrupt_id"],
                condition=Q(status="open"),
                name="yamlgraph_question_one_open",
            )
        ]
        permissions = [("answer_any_question", "Can answer any question")]
        verbose_name = _("question")

    def __str__(self) -> str:
        return self.text[:80] or f"question {self.interrupt_id}"

    @property
    def is_overdue(self) -> bool:
        return bool(
            self.status == QuestionStatus.OPEN and self.due_at and self.due_at <= timezone.now()
        )


class QuestionEvent(models.Model):
    """The audit trail of a question: assigned, claimed, released, reassigned, reminded,
    timed out, answered; who did it (None: the system) and when."""

    id = models.BigAutoField(primary_key=True)
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=QuestionEventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("question event")

    def __str__(self) -> str:
        return f"{self.kind} of question {self.question_id}"
