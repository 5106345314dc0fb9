"""Compare-and-set status changes of a session row: claiming, releasing, finishing.

Every status change is an UPDATE filtered on the status we read (and, for a running
session, on its lease), so of two requests racing for one session exactly one wins.
The lease value doubles as the claim's token: the final write of a run presumed crashed
(and recovered, or claimed again since) matches no row and cannot overwrite newer state.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from yamlgraph_django.exceptions import SessionBusy, SessionNotFound, SessionNotResumable
from yamlgraph_django.models import Run, Session, SessionStatus
from yamlgraph_django.services._common import expiry, lease_until, now

logger = logging.getLogger("yamlgraph_django.services")


def check_resumable(session: Session, status: str) -> None:
    """Fail fast, before the store is opened, for sessions no resume could claim."""
    if status in (SessionStatus.RUNNING, SessionStatus.PENDING):
        raise SessionBusy(
            f"Session {session.pk} is {status}: another request is running it; "
            "try again when it has paused."
        )
    if status not in (SessionStatus.INTERRUPTED, SessionStatus.FAILED):
        raise SessionNotResumable(
            f"Session {session.pk} is {status}; only interrupted or failed sessions can be resumed."
        )


def claim(session: Session, expected: str, *, action: str) -> dt.datetime:
    """CAS `expected` -> running with a fresh lease; the lease is the claim's token."""
    stamp = now()
    lease = lease_until(stamp)
    updated = Session.objects.filter(pk=session.pk, status=expected).update(
        status=SessionStatus.RUNNING, lease_expires_at=lease, updated_at=stamp
    )
    if updated != 1:
        raise_conflict(session, action=action)
    return lease


def raise_conflict(session: Session, *, action: str) -> None:
    """Someone else changed the session between our read and our UPDATE: say what."""
    current = Session.objects.filter(pk=session.pk).values_list("status", flat=True).first()
    if current is None:
        raise SessionNotFound(f"Session {session.pk} no longer exists.")
    if current in (SessionStatus.RUNNING, SessionStatus.PENDING):
        raise SessionBusy(
            f"Session {session.pk} is {current}: another request is running it; "
            "try again when it has paused."
        )
    raise SessionNotResumable(f"Cannot {action} session {session.pk}: it is {current}.")


def release(
    session: Session, lease: dt.datetime, status: str, *, interrupts: list | None = None
) -> None:
    """Undo our claim: the session goes back to `status` as if we had never touched it
    (with its pending questions corrected, when they turned out to be stale)."""
    fields: dict[str, Any] = {"status": status, "lease_expires_at": None, "updated_at": now()}
    if interrupts is not None:
        fields["interrupts"] = interrupts
    Session.objects.filter(
        pk=session.pk, status=SessionStatus.RUNNING, lease_expires_at=lease
    ).update(**fields)


def finish(session: Session, lease: dt.datetime, **fields: Any) -> bool:
    """Write the run's outcome if our claim still stands (CAS on status + lease token)."""
    stamp = now()
    status = fields["status"]
    fields.update(
        lease_expires_at=None,
        updated_at=stamp,
        expires_at=expiry(stamp),
        finished_at=None if status == SessionStatus.INTERRUPTED else stamp,
    )
    updated = Session.objects.filter(
        pk=session.pk, status=SessionStatus.RUNNING, lease_expires_at=lease
    ).update(**fields)
    if updated != 1:
        logger.warning(
            "session %s changed while it ran (recovered, cancelled or deleted); "
            "its outcome (%s) was not recorded on the row",
            session.pk,
            status,
        )
    return updated == 1


def finish_run(run_id: int, status: str, error: str) -> None:
    Run.objects.filter(pk=run_id).update(status=status, error=error, finished_at=now())
