"""Deleting sessions with their checkpoints, pruning expired ones, recovering crashed runs.

Deletion claims the row first (the same compare-and-set as a resume), then deletes the
thread's checkpoints, then the rows: a resume racing a delete either wins (and the
delete answers SessionBusy) or loses, and checkpoints are never removed from under a
session that still exists. If the store is down, the claim is released and nothing is
lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from typing import Any

from yamlgraph_django.exceptions import CheckpointerUnavailable, InvalidInput, SessionBusy
from yamlgraph_django.models import (
    GraphDefinition,
    Run,
    RunChannel,
    RunKind,
    RunStatus,
    Session,
    SessionStatus,
)
from yamlgraph_django.services._common import (
    SessionRef,
    expiry,
    get_app,
    get_saver,
    is_outage,
    lease_until,
    load_session,
    now,
    read_state,
    unavailable,
    user_or_none,
)
from yamlgraph_django.services._execution import outcome
from yamlgraph_django.services._validation import check_channel

logger = logging.getLogger("yamlgraph_django.services")

CRASH_ERROR = "run interrupted by a crash; resume to retry"

Progress = Callable[[int, int], Any]


def delete_session(session: SessionRef) -> None:
    """Delete the session's checkpoints from its store, then its rows (runs included).

    Raises SessionNotFound, SessionBusy (it is running: cancel or wait first; a session
    whose lease expired counts as crashed and can be deleted), CheckpointerUnavailable
    (nothing is deleted).
    """
    session = load_session(session)
    if _is_live(session, now()):
        raise SessionBusy(f"Session {session.pk} is running; delete it once it has paused.")
    if not _delete(session, {}):
        # Changed between our read and our claim: report what it is now.
        session = load_session(session)
        raise SessionBusy(f"Session {session.pk} is {session.status}; try again.")


def prune_expired(
    *,
    older_than: dt.timedelta | None = None,
    status: str | Iterable[str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    listed: Callable[[Session], Any] | None = None,
) -> int:
    """Delete sessions (and their checkpoints) past `expires_at`, or idle for `older_than`.

    Without `older_than`, a session is due when its `expires_at` (last activity +
    SESSION_TTL_MINUTES) has passed; with it, when it was last updated longer ago than
    that. `status` narrows to one status or several. Running sessions are never pruned
    (recover them first). `progress(done, total)` is called after each deletion, and
    `listed(session)` once per due session before any is deleted. With `dry_run` nothing
    is deleted. Returns how many sessions were (or would be) deleted.
    Raises InvalidInput, CheckpointerUnavailable (sessions deleted so far stay deleted).
    """
    stamp = now()
    due = Session.objects.exclude(status=SessionStatus.RUNNING)
    if older_than is not None:
        if not isinstance(older_than, dt.timedelta) or older_than.total_seconds() < 0:
            raise InvalidInput(errors={"older_than": "must be a non-negative timedelta"})
        due = due.filter(updated_at__lt=stamp - older_than)
    else:
        due = due.filter(expires_at__isnull=False, expires_at__lte=stamp)
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
        due = due.filter(status__in=statuses)
    sessions = list(due.select_related("graph").order_by("created_at"))
    for session in sessions if listed is not None else ():
        listed(session)
    if dry_run:
        return len(sessions)
    savers: dict[int, Any] = {}
    deleted = 0
    for index, session in enumerate(sessions, start=1):
        if _delete(session, savers):
            deleted += 1
        if progress is not None:
            progress(index, len(sessions))
    return deleted


def recover_stale_sessions(
    now: dt.datetime | None = None,
    *,
    actor: Any = None,
    channel: str = RunChannel.PYTHON,
    progress: Progress | None = None,
) -> list[Session]:
    """Settle `running` sessions whose lease expired: the process running them died.

    The checkpoint says where each one stopped: pending interrupts -> `interrupted`;
    a checkpoint with nothing left to run -> `completed`; otherwise (or with no
    checkpoint at all) -> `failed` with CRASH_ERROR, which a resume retries. Each
    recovery is recorded as a Run of kind `recover`, and the crashed run is marked
    failed. Sessions whose store is unreachable are skipped (logged) and stay running,
    to be recovered on a later call. `progress(done, total)` is called as each stale
    session is taken up. Returns the recovered sessions.
    """
    stamp = now or _now()
    channel = check_channel(channel)
    actor = user_or_none(actor)
    stale = list(
        Session.objects.select_related("graph").filter(
            status=SessionStatus.RUNNING, lease_expires_at__lt=stamp
        )
    )
    recovered = []
    for index, session in enumerate(stale, start=1):
        if progress is not None:
            progress(index, len(stale))
        try:
            fields = _recovered_fields(session)
        except CheckpointerUnavailable as exc:
            logger.warning("cannot recover session %s now: %s", session.pk, exc.detail)
            continue
        written = _now()
        fields.update(
            lease_expires_at=None,
            updated_at=written,
            expires_at=expiry(written),
            finished_at=None if fields["status"] == SessionStatus.INTERRUPTED else written,
        )
        updated = Session.objects.filter(
            pk=session.pk,
            status=SessionStatus.RUNNING,
            lease_expires_at=session.lease_expires_at,
        ).update(**fields)
        if updated != 1:
            continue  # it finished or was claimed again meanwhile
        Run.objects.filter(session=session, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED,
            error="the process running it stopped before it finished (lease expired)",
            finished_at=written,
        )
        Run.objects.create(
            session=session,
            kind=RunKind.RECOVER,
            actor=actor,
            channel=channel,
            value={"status": fields["status"]},
            status=RunStatus.SUCCEEDED,
            finished_at=written,
            error=fields.get("error", ""),
        )
        session.refresh_from_db()
        recovered.append(session)
    return recovered


# --------------------------------------------------------------------------- helpers


_now = now  # `recover_stale_sessions` takes a parameter named `now`


def _is_live(session: Session, stamp: dt.datetime) -> bool:
    """Running under a lease that has not expired: someone is executing it right now."""
    return session.status == SessionStatus.RUNNING and (
        session.lease_expires_at is None or session.lease_expires_at > stamp
    )


def _delete(session: Session, savers: dict[int, Any]) -> bool:
    """Claim, delete checkpoints, delete rows. False if the session changed meanwhile."""
    from yamlgraph.storage import delete_thread

    claimed = lease_until()
    updated = Session.objects.filter(
        pk=session.pk, status=session.status, lease_expires_at=session.lease_expires_at
    ).update(status=SessionStatus.RUNNING, lease_expires_at=claimed, updated_at=_now())
    if updated != 1:
        return False
    try:
        graph: GraphDefinition = session.graph
        if graph.pk not in savers:
            savers[graph.pk] = get_saver(graph)
        delete_thread(savers[graph.pk], session.thread_id)
    except BaseException as exc:
        Session.objects.filter(pk=session.pk, lease_expires_at=claimed).update(
            status=session.status, lease_expires_at=session.lease_expires_at, updated_at=_now()
        )
        if isinstance(exc, Exception) and is_outage(exc):
            raise unavailable(exc) from exc
        raise
    Session.objects.filter(pk=session.pk, lease_expires_at=claimed).delete()
    return True


def _recovered_fields(session: Session) -> dict[str, Any]:
    """Where the crashed run stopped, read from its checkpoint."""
    app = get_app(session.graph)
    return outcome(app, session, read_state(app, session), stuck_error=CRASH_ERROR)
