"""The status words of sessions and runs, and the control flags a run obeys.

A module of their own, so that the models, their managers and the services share one
vocabulary without importing each other: `models` defines the rows, `managers` the
guarded transitions between these statuses, and neither imports the other's enums.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class SessionStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    INTERRUPTED = "interrupted", _("Interrupted")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    QUEUED = "queued", _("Queued")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    #: Stopped before its end on request (a cancel, another run's multitask "interrupt"
    #: or "rollback", a streaming client gone), or cancelled before it started; the
    #: protocol's `interrupted`.
    CANCELLED = "cancelled", _("Cancelled")


class RunControl(models.TextChoices):
    """What someone asked a queued or running run to do; read between graph steps."""

    NONE = "", _("None")
    #: Stop at the next step boundary for another run (multitask "interrupt").
    INTERRUPT = "interrupt", _("Stop for another run")
    #: Stop at the next step boundary for another run that replaces it ("rollback").
    ROLLBACK = "rollback", _("Stop and roll back")
    #: Stop for good: the session is cancelled.
    CANCEL = "cancel", _("Cancel")
    #: Stop this run only (the protocol's run cancel): the session stays as its
    #: checkpoints left it, and runs again.
    CANCEL_RUN = "cancel_run", _("Cancel this run")


#: Session statuses in which someone is (or is about to be) running the session.
ACTIVE_SESSION = (SessionStatus.RUNNING, SessionStatus.PENDING)
#: Session statuses nothing can leave.
TERMINAL_SESSION = (SessionStatus.COMPLETED, SessionStatus.CANCELLED)
#: Run statuses of a run that has not ended yet.
ACTIVE_RUN = (RunStatus.RUNNING, RunStatus.QUEUED)
#: Run statuses of a run that has ended.
FINISHED_RUN = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
