"""Is a worker alive? Heartbeats of `manage.py yamlgraph worker`, and what the doors
tell a client whose run is queued while none is.

A worker writes its `WorkerHeartbeat` row every WORKER_HEARTBEAT_SECONDS (a daemon
thread beside the task worker) and deletes it when it stops cleanly; a worker killed
with kill -9 leaves a row that goes stale after WORKER_STALE_SECONDS. Readers ask
`newest_heartbeat()` (one indexed query, cached for a second per process).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import close_old_connections, connections
from django.utils import timezone

from yamlgraph_django.conf import app_settings
from yamlgraph_django.models import Run, RunStatus, Session, SessionStatus, WorkerHeartbeat

logger = logging.getLogger("yamlgraph_django.workers")

#: What every "no worker" message tells the operator to do.
START_WORKER = "start one with `manage.py yamlgraph worker`"
#: Heartbeat rows older than this are deleted by the sweeper (they only document a crash).
FORGET_AFTER = dt.timedelta(days=1)

_cache: dict[str, tuple[float, dt.datetime | None]] = {}
CACHE_SECONDS = 1.0


def new_worker_id() -> str:
    """A worker id unique across machines and restarts (at most 64 characters, as
    django-tasks-db's `--worker-id` takes)."""
    host = socket.gethostname().split(".")[0][:30]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def forget() -> None:
    """Drop this process's cached heartbeat time (tests; a setting change)."""
    _cache.clear()


def stale_after() -> dt.timedelta:
    return dt.timedelta(seconds=float(app_settings.WORKER_STALE_SECONDS))


def newest_heartbeat(*, fresh: bool = False) -> dt.datetime | None:
    """When a worker was last seen (any worker), or None if none ever was."""
    now = time.monotonic()
    cached = _cache.get("newest")
    if not fresh and cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    seen = WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
    _cache["newest"] = (now, seen)
    return seen


def worker_alive(*, fresh: bool = False) -> bool:
    """True when some worker wrote its heartbeat within WORKER_STALE_SECONDS."""
    seen = newest_heartbeat(fresh=fresh)
    return seen is not None and timezone.now() - seen <= stale_after()


def live_workers() -> int:
    """How many workers were seen within WORKER_STALE_SECONDS."""
    return WorkerHeartbeat.objects.filter(seen_at__gte=timezone.now() - stale_after()).count()


@dataclass
class WorkerNotice:
    """Why a queued run does not move: no worker alive. What clients are shown."""

    queued_at: dt.datetime
    last_worker_seen: dt.datetime | None

    @property
    def detail(self) -> str:
        seen = (
            f"no worker has been seen since {self.last_worker_seen.isoformat(timespec='seconds')}"
            if self.last_worker_seen is not None
            else "no worker has ever been seen"
        )
        return (
            f"queued since {self.queued_at.isoformat(timespec='seconds')} and {seen}: "
            f"it runs when a worker starts ({START_WORKER})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": "no_worker",
            "queued_at": self.queued_at,
            "last_worker_seen": self.last_worker_seen,
            "detail": self.detail,
        }


def workers_required() -> bool:
    """WORKER_REQUIRED, or (None) whether the task backend needs a worker process: every
    backend but Django's immediate one, which runs a task where it is enqueued."""
    required = app_settings.WORKER_REQUIRED
    if required is not None:
        return bool(required)
    from yamlgraph_django.services.engine import run_session

    return type(run_session.get_backend()).__name__ != "ImmediateBackend"


def queued_notice(run: Run) -> WorkerNotice | None:
    """A notice when `run` is queued while no worker is alive (and one is needed: a
    run queued behind another runs in process with the immediate backend); None
    otherwise."""
    if run.status != RunStatus.QUEUED or not workers_required() or worker_alive():
        return None
    return WorkerNotice(run.started_at, newest_heartbeat())


def session_notice(session: Session) -> WorkerNotice | None:
    """A notice when `session` waits for a worker (pending with a queued run, or running
    under a queued protocol run) while no worker is alive; None otherwise (one query at
    most, and none for a session that is not waiting)."""
    if session.status not in (SessionStatus.PENDING, SessionStatus.RUNNING):
        return None
    if not workers_required() or worker_alive():
        return None
    queued = (
        Run.objects.filter(session=session, status=RunStatus.QUEUED)
        .order_by("id")
        .values_list("started_at", flat=True)
        .first()
    )
    if queued is None:
        return None
    return WorkerNotice(queued, newest_heartbeat())


def stranded_runs() -> tuple[int, dt.datetime | None]:
    """Runs queued while no worker is alive: how many, and since when the oldest waits.
    (0, None) while a worker is alive."""
    if worker_alive(fresh=True):
        return 0, None
    queued = Run.objects.filter(status=RunStatus.QUEUED)
    oldest = queued.order_by("started_at").values_list("started_at", flat=True).first()
    return (queued.count(), oldest) if oldest is not None else (0, None)


# --------------------------------------------------------------------------- the worker


class HeartbeatWriter:
    """Writes this worker's heartbeat row every WORKER_HEARTBEAT_SECONDS in a daemon
    thread; `stop()` deletes the row (a clean exit is not a dead worker)."""

    def __init__(self, worker_id: str, backend: str = "", interval: float | None = None):
        self.worker_id = worker_id
        self.backend = backend[:100]
        self.interval = interval or float(app_settings.WORKER_HEARTBEAT_SECONDS)
        self.started_at = timezone.now()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, name="yamlgraph-heartbeat", daemon=True)

    def beat(self) -> None:
        """Write the row now (the first beat is written before the worker takes tasks)."""
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={
                "hostname": socket.gethostname()[:255],
                "pid": os.getpid(),
                "backend": self.backend,
                "started_at": self.started_at,
                "seen_at": timezone.now(),
            },
        )

    def loop(self) -> None:
        while not self.done.wait(self.interval):
            try:
                close_old_connections()
                self.beat()
            except Exception:
                logger.warning("could not write the worker heartbeat", exc_info=True)
        try:
            WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete()
        except Exception:
            logger.warning("could not remove the worker heartbeat", exc_info=True)
        connections.close_all()

    def start(self) -> None:
        self.beat()
        connections.close_all()  # the thread and the task worker open their own
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.done.set()
        self.thread.join(timeout)


def settle_dead_worker_tasks(now: dt.datetime | None = None) -> int:
    """Mark FAILED the django-tasks-db rows left RUNNING by workers whose heartbeat went
    stale (killed with kill -9, a lost machine): the task backend would show them running
    for ever. Their sessions are re-run by the crash sweeper (lease expiry), not by the
    task row. Only workers that wrote a heartbeat are judged. Returns how many rows."""
    from django.apps import apps

    if not apps.is_installed("django_tasks_db"):  # RQ keeps its own registry of dead jobs
        return 0
    from django_tasks_db.models import DBTaskResult

    stamp = now or timezone.now()
    dead = set(
        WorkerHeartbeat.objects.filter(seen_at__lt=stamp - stale_after()).values_list(
            "worker_id", flat=True
        )
    )
    if not dead:
        return 0
    settled = 0
    running = DBTaskResult.objects.filter(status="RUNNING").only("id", "worker_ids")
    for row in running:
        if row.worker_ids and row.worker_ids[-1] in dead:
            error = RuntimeError(
                f"worker {row.worker_ids[-1]} stopped before the task finished "
                f"(no heartbeat for {app_settings.WORKER_STALE_SECONDS} s)"
            )
            row.set_failed(error)
            settled += 1
    WorkerHeartbeat.objects.filter(seen_at__lt=stamp - FORGET_AFTER).delete()
    if settled:
        logger.warning("settled %d task row(s) of dead workers: %s", settled, sorted(dead))
    return settled
