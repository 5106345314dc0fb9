"""Guarded row changes of a session, as queryset methods (`Session.objects.claim(...)`).

Every status change is an UPDATE filtered on what the caller read: the status, and the
row's `revision`, which goes up on every change of status or pending question. So of
two requests racing for one session exactly one wins, and an answer can only be applied
to the question its author saw. The lease value of a running session is its claim's
token: the last write of a run presumed crashed (recovered, or claimed again since)
matches no row and cannot overwrite newer state.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.models import Exists, OuterRef, Q
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from yamlgraph_django.conf import app_settings
from yamlgraph_django.exceptions import (
    SessionBusy,
    SessionNotFound,
    SessionNotResumable,
    StaleQuestion,
    ThreadBusy,
)
from yamlgraph_django.guarded import GuardedQuerySet
from yamlgraph_django.signals import announce
from yamlgraph_django.status import (
    ACTIVE_RUN,
    ACTIVE_SESSION,
    TERMINAL_SESSION,
    RunControl,
    RunStatus,
    SessionStatus,
)

logger = logging.getLogger("yamlgraph_django.services")

#: Statuses in which someone is (or is about to be) running the session.
ACTIVE = ACTIVE_SESSION
#: Statuses nothing can leave.
TERMINAL = TERMINAL_SESSION


def lease_until(start: dt.datetime | None = None) -> dt.datetime:
    """When a run started now is presumed crashed if it has not finished or renewed."""
    return (start or timezone.now()) + dt.timedelta(seconds=int(app_settings.LEASE_SECONDS))


def expiry(start: dt.datetime | None = None) -> dt.datetime | None:
    """`expires_at` for a session touched now: last activity + SESSION_TTL_MINUTES."""
    ttl = app_settings.SESSION_TTL_MINUTES
    if not ttl:
        return None
    return (start or timezone.now()) + dt.timedelta(minutes=float(ttl))


def metadata_candidates(text: str) -> list[Any]:
    """The JSON values a query-string value may stand for, the text itself first."""
    candidates: list[Any] = [text]
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        candidates.append(lowered == "true")
    try:
        number: float | None = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            number = None
    if number is not None and number == number and abs(number) != float("inf"):
        candidates.append(number)
    return candidates


class SessionRow(Protocol):
    """The fields of a session (`models.Session`) the transitions compare and set: a
    Protocol, because the models module imports this one."""

    pk: Any
    status: str
    thread_id: str
    revision: int
    lease_expires_at: dt.datetime | None
    updated_at: dt.datetime
    runs_queued: bool  # set by `finish`: runs wait behind the one that just ended


class SessionQuerySet(GuardedQuerySet):
    """Compare-and-set transitions; each returns or raises, never half-applies."""

    revision_field = "revision"

    def resolve(self, session: SessionRow | Any) -> Any:
        """The Session for `session`: an instance is used as read (its revision is what a
        claim compares), an id is fetched with its graph. SessionNotFound otherwise."""
        if isinstance(session, self.model):
            return session
        try:
            return self.select_related("graph").get(pk=session)
        except (self.model.DoesNotExist, ValidationError, ValueError, TypeError):
            raise SessionNotFound(f"No session with id '{session}'.") from None

    def claim(
        self,
        session: SessionRow,
        *,
        action: str,
        idle: Iterable[str] | None = None,
        stamp: dt.datetime | None = None,
        **fields: Any,
    ) -> dt.datetime:
        """`session` -> running with a fresh lease, writing `fields` in the same UPDATE;
        returns the lease (the token). The one claim of every run, whichever door.

        Without `idle`, the session as read: filtered on the status and revision read,
        so an answer written for one question can never run against the next one; the
        loser gets SessionBusy, StaleQuestion or SessionNotResumable, saying what the
        session is now. With `idle` (LangGraph-protocol threads: any idle status may run
        again), a session in one of those statuses that no run holds; ThreadBusy when
        one does. Runs queued behind others (multitask "enqueue") do not hold it.
        """
        stamp = stamp or timezone.now()
        lease = lease_until(stamp)
        if idle is None:
            expect = Q(pk=session.pk, status=session.status, revision=session.revision)
        else:
            run_model = self.model._meta.get_field("runs").related_model
            holding = run_model.objects.filter(session=session.pk, status__in=ACTIVE_RUN).exclude(
                status=RunStatus.QUEUED, request__isnull=False
            )
            expect = Q(pk=session.pk, status__in=list(idle)) & ~Exists(holding)
        changes = {"status": SessionStatus.RUNNING, "lease_expires_at": lease, "updated_at": stamp}
        if self.compare_and_set(expect, {**changes, **fields}, instance=session) != 1:
            if idle is None:
                self.raise_conflict(session, action=action)
            if not self.filter(pk=session.pk).exists():
                raise SessionNotFound(f"Thread {session.thread_id} no longer exists.")
            raise ThreadBusy()
        return lease

    def unclaim_queued(self, session: SessionRow, status: str) -> bool:
        """A session claimed for a run that was cancelled before it started -> `status`
        (where it stood before the claim)."""
        changes = {"status": status, "lease_expires_at": None, "updated_at": timezone.now()}
        return (
            self.compare_and_set({"pk": session.pk, "status": SessionStatus.RUNNING}, changes) == 1
        )

    def fail_pending(self, session_id: Any, error: str, *, renew_expiry: bool = False) -> bool:
        """A pending session whose queued run cannot start -> failed (resumable), and
        its signal announced; False if it was no longer pending. `renew_expiry`
        restarts its time to live."""
        stamp = timezone.now()
        fields: dict[str, Any] = {"expires_at": expiry(stamp)} if renew_expiry else {}
        changes = {"status": SessionStatus.FAILED, "error": error, "finished_at": stamp}
        failed = self.compare_and_set(
            {"pk": session_id, "status": SessionStatus.PENDING},
            {**changes, "updated_at": stamp, **fields},
        )
        if failed:
            announce(session_id, SessionStatus.FAILED, using=self.db)
        return failed == 1

    def renew(self, session: SessionRow, lease: dt.datetime) -> dt.datetime | None:
        """Extend a running claim (heartbeat); None if the claim was lost meanwhile."""
        fresh = lease_until()
        ours = {"pk": session.pk, "status": SessionStatus.RUNNING, "lease_expires_at": lease}
        changed = {"lease_expires_at": fresh}
        if self.compare_and_set(ours, changed, instance=session, bump=False) != 1:
            return None
        return fresh

    def release(self, session: SessionRow, lease: dt.datetime, status: str) -> None:
        """Undo our claim: the session goes back to `status`, as if never touched."""
        ours = {"pk": session.pk, "status": SessionStatus.RUNNING, "lease_expires_at": lease}
        changes = {"status": status, "lease_expires_at": None, "updated_at": timezone.now()}
        self.compare_and_set(ours, changes, instance=session)

    def finish(self, session: SessionRow, lease: dt.datetime, **fields: Any) -> bool:
        """Write a run's outcome if our claim still stands (status + lease token).

        On success the instance shows the written fields, and the signal of the new
        status (interrupted, completed, failed) is sent once the transaction commits:
        every run, recovery and thread update ends here, so each transition is announced
        exactly once. False means the session was recovered, cancelled or deleted while
        the run ran (logged, nothing written, nothing announced).
        """
        stamp = timezone.now()
        fields.update(
            lease_expires_at=None,
            updated_at=stamp,
            expires_at=expiry(stamp),
            finished_at=None
            if fields["status"] in (SessionStatus.INTERRUPTED, SessionStatus.PENDING)
            else stamp,
        )
        ours = Q(pk=session.pk, status=SessionStatus.RUNNING, lease_expires_at=lease)
        # Whether runs are queued behind this one (multitask "enqueue") is learnt from
        # the same statement: it writes only when none is; a second UPDATE (the rare
        # case) writes when some are, and the caller then dispatches the next one.
        run_model = self.model._meta.get_field("runs").related_model
        queued = run_model.objects.filter(
            session=OuterRef("pk"), status=RunStatus.QUEUED, request__isnull=False
        )
        updated = self.compare_and_set(ours & ~Exists(queued), fields, instance=session)
        session.runs_queued = False
        if updated != 1:
            updated = self.compare_and_set(ours, fields, instance=session)
            session.runs_queued = updated == 1
        if updated != 1:
            logger.warning(
                "session %s changed while it ran (recovered, cancelled or deleted); "
                "its outcome (%s) was not recorded on the row",
                session.pk,
                fields["status"],
            )
            return False
        announce(session, fields["status"], using=self.db)
        return True

    def cancel(self, session: SessionRow) -> dt.datetime:
        """`session` as read (not running) -> cancelled; returns when."""
        if session.status == SessionStatus.RUNNING:
            raise SessionBusy(
                f"Session {session.pk} is running; cancel it once it has paused or finished."
            )
        if session.status in TERMINAL:
            raise SessionNotResumable(f"Session {session.pk} is already {session.status}.")
        stamp = timezone.now()
        fields = {
            "status": SessionStatus.CANCELLED,
            "interrupts": [],
            "lease_expires_at": None,
            "finished_at": stamp,
            "updated_at": stamp,
            "expires_at": expiry(stamp),
        }
        as_read = {"pk": session.pk, "status": session.status, "revision": session.revision}
        if self.compare_and_set(as_read, fields, instance=session) != 1:
            self.raise_conflict(session, action="cancel")
        return stamp

    def raise_conflict(self, session: SessionRow, *, action: str) -> None:
        """Someone changed the session between our read and our UPDATE: say what."""
        row = self.filter(pk=session.pk).values_list("status", "revision").first()
        if row is None:
            raise SessionNotFound(f"Session {session.pk} no longer exists.")
        current, revision = row
        if current in ACTIVE:
            raise SessionBusy(
                f"Session {session.pk} is {current}: another request is running it; "
                "try again when it has paused."
            )
        if current in TERMINAL:
            raise SessionNotResumable(f"Cannot {action} session {session.pk}: it is {current}.")
        if revision != session.revision:
            raise StaleQuestion(
                f"Session {session.pk} changed since it was read (it is {current} now, "
                "with another question); read it again and answer the current question."
            )
        raise SessionNotResumable(f"Cannot {action} session {session.pk}: it is {current}.")

    def metadata_matches(self, key: str, texts: Iterable[str]) -> SessionQuerySet:
        """Sessions whose metadata[key] equals a reading of one of `texts` (ORed).

        A query-string value carries text, so "2" matches the number 2 or the string
        "2", and "true" matches true or "true". On Postgres it is `metadata @> {key:
        value}`, which the GIN index on metadata serves; elsewhere a JSON key lookup.
        """
        candidates = [candidate for text in texts for candidate in metadata_candidates(text)]
        condition = Q()
        if connections[self.db].vendor == "postgresql":
            for candidate in candidates:
                condition |= Q(metadata__contains={key: candidate})
            return self.filter(condition)
        alias = "_metadata_" + str(len(self.query.annotations))
        for candidate in candidates:
            condition |= Q(**{alias: candidate})
        return self.alias(**{alias: KeyTransform(key, "metadata")}).filter(condition)

    def stale(self, stamp: dt.datetime) -> SessionQuerySet:
        """Running sessions whose lease expired: whoever ran them died."""
        return self.filter(status=SessionStatus.RUNNING, lease_expires_at__lt=stamp)

    def due(
        self,
        stamp: dt.datetime,
        *,
        older_than: dt.timedelta | None = None,
        statuses: Iterable[str] | None = None,
    ) -> SessionQuerySet:
        """Sessions `prune` deletes: expired (or idle for `older_than`), never running."""
        due = self.exclude(status=SessionStatus.RUNNING)
        if older_than is not None:
            due = due.filter(updated_at__lt=stamp - older_than)
        else:
            due = due.filter(expires_at__isnull=False, expires_at__lte=stamp)
        if statuses is not None:
            due = due.filter(status__in=list(statuses))
        return due


SessionManager = models.Manager.from_queryset(SessionQuerySet)


class RunQuerySet(GuardedQuerySet):
    """Guarded status changes of `Run` rows: each is an UPDATE filtered on the status the
    change starts from, so a run ends once, and a queued run starts once."""

    def begin(self, run_id: int, **fields: Any) -> bool:
        """queued -> running (a worker takes its turn); False if it was cancelled or
        taken meanwhile."""
        queued = {"pk": run_id, "status": RunStatus.QUEUED}
        return self.compare_and_set(queued, {"status": RunStatus.RUNNING, **fields}) == 1

    def end(self, run_id: int, status: str, error: str = "") -> bool:
        """An unfinished run -> `status` (succeeded, failed, cancelled); False if it had
        ended already (its first outcome stands)."""
        ended = {"status": status, "error": error, "finished_at": timezone.now()}
        return self.compare_and_set({"pk": run_id, "status__in": ACTIVE_RUN}, ended) == 1

    def end_running(self, session_id: Any, status: str, error: str, stamp: dt.datetime) -> int:
        """Every running run of a session -> `status` (a recovery: their process died)."""
        running = {"session_id": session_id, "status": RunStatus.RUNNING}
        return self.compare_and_set(
            running, {"status": status, "error": error, "finished_at": stamp}
        )

    def cancel_queued(self, session_id: Any, *, run_id: int | None = None) -> int:
        """Queued runs of a session (or one of them) -> cancelled: they never start."""
        queued = self.filter(session_id=session_id, status=RunStatus.QUEUED)
        if run_id is not None:
            queued = queued.filter(pk=run_id)
        cancelled = {"status": RunStatus.CANCELLED, "control": RunControl.CANCEL}
        return queued.compare_and_set(
            {}, {**cancelled, "error": "cancelled before it ran", "finished_at": timezone.now()}
        )

    def request_stop(self, session_id: Any, control: str, *, run_id: int | None = None) -> int:
        """Flag a session's running run(s) (or one of them) to stop at their next step;
        the run's own loop reads the flag wherever it executes. Returns how many."""
        running = self.filter(session_id=session_id, status=RunStatus.RUNNING)
        if run_id is not None:
            running = running.filter(pk=run_id)
        return running.compare_and_set({}, {"control": control})

    def control_of(self, run_id: int | None) -> str:
        """The stop asked of a run ("" for none)."""
        if run_id is None:
            return RunControl.NONE
        return self.filter(pk=run_id).values_list("control", flat=True).first() or ""

    def active(self, session_id: Any) -> RunQuerySet:
        """The session's runs that have not ended (queued or running)."""
        return self.filter(session_id=session_id, status__in=ACTIVE_RUN)

    def next_queued(self, session_id: Any) -> Any:
        """The oldest queued run of a session carrying its request (multitask "enqueue"),
        or None: the one the worker starts when the current run ends."""
        return (
            self.filter(session_id=session_id, status=RunStatus.QUEUED, request__isnull=False)
            .order_by("started_at", "id")
            .first()
        )


RunManager = models.Manager.from_queryset(RunQuerySet)
