"""Worker heartbeats: each `manage.py yamlgraph worker` writes its row every
WORKER_HEARTBEAT_SECONDS, so any process can tell whether a worker is alive (the health
check, the run status of a queued run, the admin banner, `check --deploy`, metrics).

Imported by `yamlgraph_django.models` (one models module for Django).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkerHeartbeat(models.Model):
    """One worker process and when it was last seen alive."""

    #: Also the task backend's worker id (django-tasks-db's `--worker-id`), so the
    #: sweeper can tell which task rows a dead worker left running.
    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    backend = models.CharField(max_length=100, blank=True, help_text=_("Task worker command"))
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-seen_at"]
        verbose_name = _("worker heartbeat")

    def __str__(self) -> str:
        return f"worker {self.worker_id} on {self.hostname} (pid {self.pid})"
