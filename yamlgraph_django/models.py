"""Session metadata. Checkpoints stay in the LangGraph checkpointer; these rows say whose
session it is, which graph version it runs, where it stands and who did what."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from yamlgraph_django.managers import RunManager, SessionManager
from yamlgraph_django.status import (  # re-exported: models.SessionStatus etc.
    RunControl,
    RunStatus,
    SessionStatus,
)


class GraphDefinition(models.Model):
    """One version of a graph file, keyed by (name, checksum of its source)."""

    name = models.CharField(max_length=200, db_index=True)
    version = models.PositiveIntegerField(help_text=_("1 for the first source seen, then +1"))
    description = models.TextField(blank=True)
    checksum = models.CharField(max_length=64, help_text=_("sha256 of the source"))
    source = models.TextField(help_text=_("The YAML exactly as registered"))
    path = models.CharField(max_length=1000, blank=True, help_text=_("File it was loaded from"))
    declared_version = models.CharField(max_length=50, blank=True)
    is_latest = models.BooleanField(default=True, db_index=True)
    registered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "checksum"], name="yamlgraph_graph_checksum"),
            models.UniqueConstraint(fields=["name", "version"], name="yamlgraph_graph_version"),
            # One latest version per name, enforced by the database so that two processes
            # syncing at once cannot both flip a new row to latest (the loser retries).
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(is_latest=True),
                name="yamlgraph_graph_one_latest",
            ),
        ]
        verbose_name = _("graph")

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class Session(models.Model):
    """One run of a graph on one LangGraph thread."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    thread_id = models.CharField(max_length=255, unique=True)
    # Null only for a LangGraph-protocol thread created before its first run: the graph
    # is chosen by that run's assistant. Every session that has run has a graph.
    graph = models.ForeignKey(
        GraphDefinition,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sessions",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="yamlgraph_sessions",
    )
    status = models.CharField(
        max_length=20, choices=SessionStatus.choices, default=SessionStatus.PENDING
    )
    input = models.JSONField(default=dict, blank=True)
    interrupts = models.JSONField(
        default=list, blank=True, help_text=_("Pending interrupts: [{id, value}]")
    )
    output = models.JSONField(null=True, blank=True, help_text=_("Final values"))
    error = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_expires_at = models.DateTimeField(
        null=True, blank=True, help_text=_("A running session past this is presumed crashed")
    )
    revision = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text=_("Goes up on every change of status or question; compared by claims"),
    )
    webhook = models.URLField(
        max_length=2000,
        blank=True,
        help_text=_("POSTed the session when it is interrupted, completes or fails"),
    )

    objects = SessionManager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="yamlgraph_session_status"),
            models.Index(fields=["owner", "-created_at"], name="yamlgraph_session_owner"),
            models.Index(fields=["status", "lease_expires_at"], name="yamlgraph_session_lease"),
            models.Index(fields=["graph", "-created_at"], name="yamlgraph_session_graph"),
        ]
        permissions = [
            ("view_all_sessions", "Can view and act on every user's sessions"),
            ("resume_session", "Can answer and resume sessions"),
        ]
        verbose_name = _("session")

    def __str__(self) -> str:
        return f"{self.graph.name if self.graph_id else '?'} session {self.id}"


class RunKind(models.TextChoices):
    START = "start", _("Start")
    RESUME = "resume", _("Resume")
    CANCEL = "cancel", _("Cancel")
    RECOVER = "recover", _("Recover")


class RunChannel(models.TextChoices):
    API = "api", _("API")
    ADMIN = "admin", _("Admin")
    COMMAND = "command", _("Command")
    TASK = "task", _("Task")
    PYTHON = "python", _("Python")
    LANGGRAPH = "langgraph", _("LangGraph protocol")


class Run(models.Model):
    """One start, resume or cancel: the audit trail of who answered what, and when."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=20, choices=RunKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="yamlgraph_runs",
    )
    channel = models.CharField(max_length=20, choices=RunChannel.choices)
    value = models.JSONField(null=True, blank=True, help_text=_("Input or answer given"))
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    control = models.CharField(
        max_length=20,
        choices=RunControl.choices,
        blank=True,
        default=RunControl.NONE,
        help_text=_("A stop asked of this run (read between graph steps)"),
    )
    multitask_strategy = models.CharField(
        max_length=20,
        blank=True,
        help_text=_("What the request asked for if the session was busy"),
    )
    request = models.JSONField(
        null=True,
        blank=True,
        help_text=_("A queued run's request: what the worker runs when its turn comes"),
    )

    objects = RunManager()

    class Meta:
        ordering = ["started_at", "id"]
        verbose_name = _("run")

    def __str__(self) -> str:
        return f"{self.kind} of {self.session_id} by {self.actor or self.channel}"


class SessionEvent(models.Model):
    """A batch of one run's stream parts in the database event log (used when no Redis
    is set): one row per flush, so a short run costs one INSERT. A part's event id is
    `<row id>-<index in parts>`.

    Keyed by session, not a foreign key: the log is trimmed in bulk with its session
    (delete, prune) without the ORM collecting rows one by one.
    """

    id = models.BigAutoField(primary_key=True)
    session_id = models.UUIDField()
    run_id = models.BigIntegerField(null=True, blank=True)
    parts = models.JSONField(default=list, help_text=_("[[event, data], ...] in order"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["session_id", "id"], name="yamlgraph_event_session"),
        ]
        verbose_name = _("session event batch")

    def __str__(self) -> str:
        return f"{len(self.parts)} events #{self.pk} of {self.session_id}"


from yamlgraph_django.checkpointer.models import *  # noqa: E402, F403
from yamlgraph_django.question_models import Question, QuestionEvent  # noqa: E402, F401
from yamlgraph_django.store_models import *  # noqa: E402, F403
from yamlgraph_django.worker_models import WorkerHeartbeat  # noqa: E402, F401
