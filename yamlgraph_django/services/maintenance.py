"""Deleting sessions with their checkpoints, pruning expired ones, recovering crashed runs.

Deletion claims the rows first (the same compare-and-set as a resume), then deletes the
threads' checkpoints, then the rows: a resume racing a delete either wins (and the
delete answers SessionBusy) or loses, and checkpoints are never removed from under a
session that still exists. If the store is down, the claims are released and nothing
is lost. Pruning works in batches: one claim per status, one checkpoint deletion per
store and one row deletion per batch.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.db import close_old_connections, connections
from django.db.models import F
from django.utils import timezone

from yamlgraph.storage import delete_thread
from yamlgraph.storage.bulk import delete_threads
from yamlgraph_django.exceptions import CheckpointerUnavailable, InvalidInput, SessionBusy
from yamlgraph_django.managers import lease_until
from yamlgraph_django.models import (
    GraphDefinition,
    Run,
    RunChannel,
    RunKind,
    RunStatus,
    Session,
    SessionStatus,
)
from yamlgraph_django.services import deadlines, questions, rules
from yamlgraph_django.services.engine import (
    dispatch_overdue,
    enqueue_on_commit,
    outcome,
    run_ended,
)
from yamlgraph_django.services.run_events import trim_events
from yamlgraph_django.services.snapshots import thread_config
from yamlgraph_django.services.stores import get_app, saver_for, store_errors
from yamlgraph_django.services.validation import check_channel, user_or_none
from yamlgraph_django.services.workers import settle_dead_worker_tasks

logger = logging.getLogger("yamlgraph_django.services")

CRASH_ERROR = "run interrupted by a crash; resume to retry"
#: How often the sweeper re-runs a crashed session before it leaves it failed.
MAX_RERUNS = 1

#: Sessions per prune batch.
PRUNE_BATCH = 500

Progress = Callable[[int, int], Any]


def delete_session(session: Session | Any, *, actor: Any = None) -> None:
    """Delete the session's checkpoints from its store, then its rows (runs included).

    `actor` is who asks (None: the system); the rulebook decides (services.rules).
    Raises SessionNotFound, SessionBusy (it is running: cancel or wait first; a session
    whose lease expired counts as crashed and can be deleted), CheckpointerUnavailable
    (nothing is deleted).
    """
    # Read afresh: a delete is not bound to what the caller saw, only to what is there.
    session = Session.objects.resolve(getattr(session, "pk", session))
    rules.authorize_delete(actor, session)
    if _is_live(session, timezone.now()):
        raise SessionBusy(f"Session {session.pk} is running; delete it once it has paused.")
    previous = session.status
    lease = Session.objects.claim(session, action="delete")
    try:
        if session.graph_id is not None:  # a LangGraph thread that never ran has none
            with store_errors():
                delete_thread(saver_for(session.graph), session.thread_id)
    except BaseException:
        Session.objects.release(session, lease, previous)
        raise
    Session.objects.filter(pk=session.pk, lease_expires_at=lease).delete()
    trim_events([session.pk])


def prune_expired(
    *,
    older_than: dt.timedelta | None = None,
    status: str | Iterable[str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    listed: Callable[[Session], Any] | None = None,
    batch_size: int = PRUNE_BATCH,
) -> int:
    """Delete sessions (and their checkpoints) past `expires_at`, or idle for `older_than`.

    Without `older_than`, a session is due when its `expires_at` (last activity +
    SESSION_TTL_MINUTES) has passed; with it, when it was last updated longer ago than
    that. `status` narrows to one status or several. Running sessions are never pruned,
    nor is one that a run claimed after the batch was read. `progress(done, total)` is
    called after each batch, `listed(session)` once per due session before any is
    deleted. With `dry_run` nothing is deleted. Returns how many
    sessions were (or would be) deleted.
    Raises InvalidInput, CheckpointerUnavailable (sessions deleted so far stay deleted).
    """
    due = due_sessions(older_than=older_than, status=status)
    if listed is not None:
        for session in due.select_related("graph").order_by("created_at").iterator():
            listed(session)
    if dry_run:
        return due.count()
    total = due.count() if progress is not None else 0
    deleted = 0
    after: tuple[dt.datetime, uuid.UUID] | None = None
    while True:
        page = due.order_by("created_at", "pk")
        if after is not None:
            page = page.filter(created_at__gte=after[0]).exclude(
                created_at=after[0], pk__lte=after[1]
            )
        rows = list(
            page.values_list("pk", "created_at", "status", "thread_id", "graph_id")[:batch_size]
        )
        if not rows:
            break
        after = (rows[-1][1], rows[-1][0])
        deleted += _delete_batch(due, rows)
        if progress is not None:
            progress(min(deleted, total), total)
    return deleted


def due_sessions(
    *, older_than: dt.timedelta | None = None, status: str | Iterable[str] | None = None
) -> Any:
    """The sessions `prune_expired` would delete now (a queryset); InvalidInput for bad
    arguments."""
    if older_than is not None and (
        not isinstance(older_than, dt.timedelta) or older_than.total_seconds() < 0
    ):
        raise InvalidInput(errors={"older_than": "must be a non-negative timedelta"})
    statuses = None
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        bad = [s for s in statuses if s not in SessionStatus.values]
        if bad:
            raise InvalidInput(
                errors={
                    "status": f"unknown status {', '.join(bad)}; one of "
                    f"{', '.join(SessionStatus.values)}"
                }
            )
    return Session.objects.due(timezone.now(), older_than=older_than, statuses=statuses)


def _delete_batch(due: Any, rows: list[tuple[Any, ...]]) -> int:
    """Claim the rows still due (one UPDATE per status), delete their checkpoints (one
    call per store) and their rows. Returns how many were deleted."""
    token = lease_until() + dt.timedelta(microseconds=uuid.uuid4().int % 1_000_000)
    by_status: dict[str, list[Any]] = defaultdict(list)
    for pk, _created, status, _thread, _graph in rows:
        by_status[status].append(pk)
    claimed: dict[str, list[Any]] = {}
    for status, pks in by_status.items():
        updated = due.filter(pk__in=pks, status=status).update(
            status=SessionStatus.RUNNING, lease_expires_at=token, revision=F("revision") + 1
        )
        if updated:
            claimed[status] = pks
    if not claimed:
        return 0
    mine = set(
        Session.objects.filter(
            pk__in=[pk for pks in claimed.values() for pk in pks], lease_expires_at=token
        ).values_list("pk", flat=True)
    )
    threads: dict[int, list[str]] = defaultdict(list)
    for pk, _created, _status, thread_id, graph_id in rows:
        if pk in mine:
            threads[graph_id].append(thread_id)
    try:
        savers: dict[str, tuple[Any, list[str]]] = {}
        for graph in GraphDefinition.objects.filter(pk__in=list(threads)):
            saver = saver_for(graph)
            savers.setdefault(str(id(saver)), (saver, []))[1].extend(threads[graph.pk])
        with store_errors():
            for saver, thread_ids in savers.values():
                delete_threads(saver, thread_ids)
    except BaseException:
        for status, pks in claimed.items():
            Session.objects.filter(pk__in=pks, lease_expires_at=token).update(
                status=status, lease_expires_at=None
            )
        raise
    Session.objects.filter(pk__in=mine, lease_expires_at=token).delete()
    trim_events(list(mine))
    return len(mine)


def recover_stale_sessions(
    now: dt.datetime | None = None,
    *,
    actor: Any = None,
    channel: str = RunChannel.PYTHON,
    progress: Progress | None = None,
    rerun: bool = False,
) -> list[Session]:
    """Settle `running` sessions whose lease expired: the process running them died.

    With `rerun` (the worker's sweeper) a session whose graph has work left is run
    again from its last checkpoint on a worker, once (MAX_RERUNS); a second crash
    leaves it failed and resumable like the rest.

    The checkpoint says where each one stopped: pending interrupts -> `interrupted`;
    a checkpoint with nothing left to run -> `completed`; otherwise (or with no
    checkpoint at all) -> `failed` with CRASH_ERROR, which a resume retries. Each
    recovery is recorded as a Run of kind `recover`, and the crashed run is marked
    failed. Sessions whose store is unreachable are skipped (logged) and stay running,
    to be recovered on a later call. `progress(done, total)` is called as each stale
    session is taken up. Returns the recovered sessions.
    """
    stamp = now or timezone.now()
    channel = check_channel(channel)
    actor = user_or_none(actor)
    recovered = []
    stale = list(Session.objects.stale(stamp).select_related("graph"))
    for index, session in enumerate(stale, start=1):
        if progress is not None:
            progress(index, len(stale))
        try:
            fields = _recovered_fields(session)
        except CheckpointerUnavailable as exc:
            logger.warning("cannot recover session %s now: %s", session.pk, exc.detail)
            continue
        lease = session.lease_expires_at
        assert lease is not None
        again = rerun and fields.get("error") == CRASH_ERROR and _reruns(session) < MAX_RERUNS
        if again:
            fields = {**fields, "status": SessionStatus.PENDING, "error": ""}
        if not Session.objects.finish(session, lease, **fields):
            continue  # it finished or was claimed again meanwhile
        written = session.updated_at
        Run.objects.end_running(
            session.pk,
            RunStatus.FAILED,
            "the process running it stopped before it finished (lease expired)",
            written,
        )
        recovery = Run.objects.create(
            session=session,
            kind=RunKind.RECOVER,
            actor=actor,
            channel=channel,
            value={"status": "rerun" if again else fields["status"]},
            status=RunStatus.QUEUED if again else RunStatus.SUCCEEDED,
            finished_at=None if again else written,
            error=fields.get("error", ""),
        )
        if again:
            enqueue_on_commit(session, recovery, {"kind": "continue"})
        else:
            questions.record_outcome(session)
            run_ended(session)  # runs queued behind the crashed one may start now
        recovered.append(session)
    return recovered


class Sweeper:
    """Runs `recover_stale_sessions(rerun=True)` every `interval` seconds in a daemon
    thread, beside a task worker: a run whose worker died is taken up again with nobody
    typing a command. Several sweepers are safe (each recovery is a guarded claim)."""

    def __init__(self, interval: float | None = None) -> None:
        from yamlgraph_django.conf import app_settings

        self.interval = interval or max(1.0, float(app_settings.LEASE_SECONDS) / 3)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, name="yamlgraph-sweeper", daemon=True)

    def loop(self) -> None:
        deadlines.sweep()  # at once: deadlines that passed while no worker ran
        while not self.done.wait(self.interval):
            try:
                close_old_connections()
                for session in recover_stale_sessions(channel=RunChannel.TASK, rerun=True):
                    logger.warning("recovered session %s: %s", session.pk, session.status)
                settle_dead_worker_tasks()
                deadlines.sweep()  # deadlines missed while no worker ran
                dispatch_overdue(older_than=self.interval * 2)  # queued runs left waiting
            except Exception:
                logger.warning("crash sweep failed; trying again later", exc_info=True)
        connections.close_all()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()


def worker_command(worker_id: str | None = None) -> tuple[str, list[str]]:
    """The management command (and its arguments) that works the TASKS default backend's
    queue: django-tasks-db's `db_worker` (with `worker_id`, the id its task rows record,
    so the sweeper can settle them if the worker dies), or django-rq's `rqworker`."""
    from yamlgraph_django.services.engine import run_session

    backend = run_session.get_backend()
    module = type(backend).__module__
    if module.startswith("django_tasks_db"):
        # --no-reload: with DEBUG, db_worker's autoreloader re-runs the whole `yamlgraph
        # worker` in a child, so the heartbeat, the sweeper and the cron ticker ran twice
        # (two workers alive on /api/health/ for one `make run`).
        return "db_worker", [
            "--queue-name",
            "*",
            "--no-reload",
            *(["--worker-id", worker_id] if worker_id else []),
        ]
    if module.startswith("django_tasks_rq"):
        queues = sorted(getattr(backend, "queues", None) or ["default"])
        # SimpleWorker runs jobs in the worker process: RQ's default forks one per job,
        # and a fork while the sweeper thread holds a lock (a database connection, the
        # saver cache) can leave the job hung for good.
        return "rqworker", [
            *queues,
            "--job-class",
            "django_tasks_rq.Job",
            "--worker-class",
            "rq.worker.SimpleWorker",
            "--with-scheduler",
        ]
    raise InvalidInput(
        errors={
            "TASKS": f"no worker is known for the backend {type(backend).__name__}: run its "
            "own worker, and `manage.py yamlgraph recover` periodically"
        }
    )


def _reruns(session: Session) -> int:
    """Re-runs by recovery since the session's last start or resume."""
    last = (
        Run.objects.filter(session=session, kind__in=(RunKind.START, RunKind.RESUME))
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    return Run.objects.filter(
        session=session, kind=RunKind.RECOVER, id__gt=last or 0, value__status="rerun"
    ).count()


def _is_live(session: Session, stamp: dt.datetime) -> bool:
    """Running under a lease that has not expired: someone is executing it right now."""
    return session.status == SessionStatus.RUNNING and (
        session.lease_expires_at is None or session.lease_expires_at > stamp
    )


def _recovered_fields(session: Session) -> dict[str, Any]:
    """Where the crashed run stopped, read from its checkpoint."""
    app = get_app(session.graph)
    with store_errors():
        snapshot = app.get_state(thread_config(session))
        return outcome(snapshot, session, app=app, stuck_error=CRASH_ERROR)
