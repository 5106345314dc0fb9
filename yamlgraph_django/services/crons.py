"""Scheduled runs (LangGraph's crons): a graph run every time a cron schedule comes
round, on one thread or on a new thread each time, until an end time.

    cron = create_cron(owner=user, graph_name="interview", schedule="0 9 * * 1-5",
                       timezone="Europe/Oslo", payload={"input": {"topic": "standup"}})
    fire_due()   # the worker's CronTicker calls this every CRON_POLL_SECONDS

Firing is safe with any number of workers: each occurrence moves `next_run_at` on with
a compare-and-set on its old value, and only the worker whose update matched starts
the run (on the task queue, like `runs.create`). An occurrence missed while no worker
ran is fired once, not once per missed slot.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from django.db import close_old_connections, connections
from django.utils import timezone

from yamlgraph_django import registry
from yamlgraph_django.exceptions import InvalidInput
from yamlgraph_django.models import Session, SessionStatus
from yamlgraph_django.services import engine, thread_runs, threads
from yamlgraph_django.services.run_request import RunRequest
from yamlgraph_django.services.store import sweep_expired
from yamlgraph_django.store_models import Cron

logger = logging.getLogger("yamlgraph_django.services")

#: Run request keys a cron keeps in its payload (the rest of a create body is the cron's).
PAYLOAD_KEYS = (
    "input",
    "config",
    "context",
    "metadata",
    "interrupt_before",
    "interrupt_after",
    "webhook",
    "multitask_strategy",
    "stream_mode",
    "durability",
)


def check_schedule(schedule: Any) -> str:
    if not isinstance(schedule, str) or not croniter.is_valid(schedule.strip()):
        raise InvalidInput(
            errors={"schedule": f"not a cron schedule: {schedule!r} (e.g. '*/5 * * * *')"}
        )
    return schedule.strip()


def check_timezone(name: Any) -> str:
    if name in (None, ""):
        return "UTC"
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(errors={"timezone": f"unknown IANA timezone {name!r}"}) from None
    return str(name)


def next_occurrence(schedule: str, zone: str, after: dt.datetime) -> dt.datetime:
    """The first time after `after` that `schedule` names, read in `zone` (UTC result)."""
    local = after.astimezone(ZoneInfo(zone))
    following = croniter(schedule, local).get_next(dt.datetime)
    return following.astimezone(dt.UTC)


def upcoming(cron: Cron, after: dt.datetime) -> dt.datetime | None:
    """When `cron` fires next after `after`: None when disabled or past its end time."""
    if not cron.enabled:
        return None
    following = next_occurrence(cron.schedule, cron.timezone, after)
    if cron.end_time is not None and following > cron.end_time:
        return None
    return following


def create_cron(
    *,
    owner: Any,
    graph_name: str,
    schedule: str,
    timezone_name: str | None = None,
    payload: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    thread: Session | None = None,
    end_time: dt.datetime | None = None,
    enabled: bool = True,
    on_run_completed: str = "delete",
) -> Cron:
    """A new cron, its first occurrence computed. InvalidInput names a bad field."""
    registry.get_latest(graph_name)  # GraphNotFound for an unknown graph
    if on_run_completed not in ("delete", "keep"):
        raise InvalidInput(errors={"on_run_completed": "must be 'delete' or 'keep'"})
    user = owner if owner is not None and getattr(owner, "is_authenticated", False) else None
    cron = Cron(
        graph_name=graph_name,
        thread=thread,
        owner=user,
        schedule=check_schedule(schedule),
        timezone=check_timezone(timezone_name),
        payload=threads.check_object(payload, "payload"),
        metadata=threads.check_object(metadata, "metadata"),
        on_run_completed=on_run_completed,
        end_time=end_time,
        enabled=bool(enabled),
    )
    cron.next_run_at = upcoming(cron, timezone.now())
    cron.save()
    return cron


def update_cron(cron: Cron, changes: Mapping[str, Any]) -> Cron:
    """Change a cron's schedule, timezone, end time, enabled flag, payload parts or
    metadata; its next occurrence is computed again from now."""
    if "schedule" in changes:
        cron.schedule = check_schedule(changes["schedule"])
    if "timezone" in changes:
        cron.timezone = check_timezone(changes["timezone"])
    if "end_time" in changes:
        cron.end_time = changes["end_time"]
    if "enabled" in changes:
        cron.enabled = bool(changes["enabled"])
    if "on_run_completed" in changes:
        if changes["on_run_completed"] not in ("delete", "keep"):
            raise InvalidInput(errors={"on_run_completed": "must be 'delete' or 'keep'"})
        cron.on_run_completed = changes["on_run_completed"]
    if "metadata" in changes:
        cron.metadata = threads.check_object(changes["metadata"], "metadata")
    payload = dict(cron.payload)
    for key in PAYLOAD_KEYS:
        if key in changes and key != "metadata":
            payload[key] = changes[key]
    cron.payload = threads.check_object(payload, "payload")
    cron.next_run_at = upcoming(cron, timezone.now())
    cron.save()
    return cron


def fire_due(now: dt.datetime | None = None) -> int:
    """Start a run for every cron whose time has come; returns how many this process
    started. A compare-and-set on `next_run_at` makes each occurrence fire once, on
    whichever worker wins it."""
    now = now or timezone.now()
    fired = 0
    due = Cron.objects.filter(enabled=True, next_run_at__lte=now).order_by("next_run_at")
    for cron in due[:100]:
        following = upcoming(cron, now)
        won = Cron.objects.filter(pk=cron.pk, next_run_at=cron.next_run_at).update(
            next_run_at=following, last_run_at=now, updated_at=now
        )
        if not won:
            continue  # another worker fired this occurrence
        try:
            start_cron_run(cron, cron.next_run_at)
            fired += 1
        except Exception:
            logger.warning("cron %s could not start its run", cron.pk, exc_info=True)
    delete_finished_cron_threads()
    return fired


def start_cron_run(cron: Cron, occurrence: dt.datetime | None = None) -> engine.PreparedRun:
    """Queue one run of `cron` (on its thread, or on a new thread); `occurrence` (the
    slot it fires for) goes into the run's metadata as `cron_occurrence`."""
    payload = dict(cron.payload or {})
    session = cron.thread
    slot = occurrence.isoformat() if occurrence is not None else None
    if session is None:
        metadata = {"cron_id": str(cron.pk), "cron_occurrence": slot}
        if cron.on_run_completed == "delete":
            metadata["cron_delete"] = True
        session, _created = threads.create_thread(
            owner=cron.owner, graph_name=cron.graph_name, metadata=metadata
        )
    request = RunRequest(
        graph_name=cron.graph_name,
        input=payload.get("input") if payload.get("input") is not None else {},
        metadata={
            **(cron.metadata or {}),
            **(payload.get("metadata") or {}),
            "cron_id": str(cron.pk),
        },
        config=payload.get("config"),
        interrupt_before=payload.get("interrupt_before"),
        interrupt_after=payload.get("interrupt_after"),
        assistant_id=threads.assistant_id_of(cron.graph_name),
    )
    if session.graph_id is not None and session.status == SessionStatus.INTERRUPTED:
        # A paused thread is left waiting: a cron never answers a person's question.
        raise InvalidInput(errors={"thread": "the thread waits for an answer; skipped"})
    prepared = thread_runs.prepare_run(session, request, actor=cron.owner, background=True)
    engine.enqueue_prepared(prepared)
    return prepared


def delete_finished_cron_threads() -> int:
    """Threads made for one run of a cron with `on_run_completed: delete` go once done."""
    finished = Session.objects.filter(
        metadata__cron_delete=True,
        status__in=(SessionStatus.COMPLETED, SessionStatus.FAILED),
    )[:100]
    count = 0
    for session in finished:
        threads.delete_thread(session)
        count += 1
    return count


class CronTicker:
    """Beside a task worker: fires due crons (and drops expired store items) every
    `interval` seconds in a daemon thread. Any number of workers may run one."""

    def __init__(self, interval: float | None = None) -> None:
        from yamlgraph_django.conf import app_settings

        self.interval = interval or float(app_settings.CRON_POLL_SECONDS)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, name="yamlgraph-crons", daemon=True)

    def tick(self) -> None:
        close_old_connections()
        fired = fire_due()
        if fired:
            logger.info("started %s scheduled run(s)", fired)
        sweep_expired()

    def loop(self) -> None:
        while not self.done.wait(self.interval):
            try:
                self.tick()
            except Exception:
                logger.warning("cron tick failed; trying again later", exc_info=True)
        connections.close_all()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
