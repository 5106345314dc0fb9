"""Models of LangGraph's long-term store (`StoreItem`, behind `services.store.DjangoStore`)
and of scheduled runs (`Cron`, fired by the worker). Imported by `models`."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class StoreItem(models.Model):
    """One item of the store: a JSON value under (namespace, key).

    `namespace` is the namespace's labels joined with "." (LangGraph forbids dots in
    labels), so a prefix search is one indexed `LIKE 'a.b.%'`; `depth` is the number of
    labels (for `max_depth`). An item with a TTL disappears `ttl_minutes` after its last
    write (or read, with refresh_ttl); expired rows are dropped by `sweep_expired`.
    """

    id = models.BigAutoField(primary_key=True)
    namespace = models.CharField(max_length=1000, db_index=True)
    depth = models.PositiveSmallIntegerField()
    key = models.CharField(max_length=500)
    value = models.JSONField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    ttl_minutes = models.FloatField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "key"], name="yamlgraph_store_unique"),
        ]
        verbose_name = _("store item")

    def __str__(self) -> str:
        return f"{self.namespace} / {self.key}"


class Cron(models.Model):
    """A scheduled run (LangGraph's cron): `schedule` (cron syntax) in `timezone`, on
    one thread or a new thread each time, until `end_time`. The worker fires a cron
    whose `next_run_at` has passed, moving `next_run_at` on with a compare-and-set so
    that exactly one worker fires each occurrence."""

    cron_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    graph_name = models.CharField(max_length=200, help_text=_("the graph (assistant) it runs"))
    thread = models.ForeignKey(
        "yamlgraph_django.Session",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="crons",
        help_text=_("empty: each run gets a new thread"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="yamlgraph_crons",
    )
    schedule = models.CharField(max_length=200, help_text=_("cron syntax, e.g. '*/5 * * * *'"))
    timezone = models.CharField(max_length=64, default="UTC")
    payload = models.JSONField(default=dict, blank=True, help_text=_("the run request"))
    metadata = models.JSONField(default=dict, blank=True)
    on_run_completed = models.CharField(
        max_length=10, default="delete", help_text=_("new threads: 'delete' or 'keep' them")
    )
    end_time = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("schedule")

    def __str__(self) -> str:
        return f"{self.graph_name} at '{self.schedule}' ({self.timezone})"
