"""Where a question stands, and what can happen to it: the enums of `Question` and of its
audit rows (`QuestionEvent`), in a module of their own so that services, doors and
migrations name them without importing the models."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class QuestionStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ANSWERED = "answered", _("Answered")
    TIMED_OUT = "timed_out", _("Timed out")
    CANCELLED = "cancelled", _("Cancelled")


class QuestionEventKind(models.TextChoices):
    ASSIGNED = "assigned", _("Assigned")
    CLAIMED = "claimed", _("Claimed")
    RELEASED = "released", _("Released")
    REASSIGNED = "reassigned", _("Reassigned")
    REMINDED = "reminded", _("Reminded")
    TIMED_OUT = "timed_out", _("Timed out")
    ANSWERED = "answered", _("Answered")


#: Statuses a question cannot leave.
CLOSED = (QuestionStatus.ANSWERED, QuestionStatus.TIMED_OUT, QuestionStatus.CANCELLED)
