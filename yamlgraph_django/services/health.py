"""Is the deployment alive? The database, the checkpointer, the event log and the
workers, each asked once, each within HEALTH_TIMEOUT_SECONDS.

    report = health_report()
    report.ok            # False when one part is down: the doors answer 503
    report.as_dict()     # {"status": "ok"|"down", "checks": {name: {...}}}

Read-only: a check never writes (the checkpointer is asked for a thread that does not
exist, the event log for a session that does not exist).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, connections
from django.utils import timezone

from yamlgraph_django.conf import app_settings
from yamlgraph_django.services import workers

#: A thread id no session has: what the checkpointer check reads.
PROBE_THREAD = "yamlgraph-health-probe"
PROBE_SESSION = str(uuid.UUID(int=0))

OK = "ok"
DOWN = "down"


@dataclass
class Check:
    """One part's answer: up or down, how long it took, and what went wrong."""

    status: str
    seconds: float
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, *, with_errors: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "ms": round(self.seconds * 1000, 1)}
        if self.error and with_errors:
            body["error"] = self.error
        body.update(self.extra)
        return body


@dataclass
class HealthReport:
    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        return all(check.status == OK for check in self.checks.values())

    def as_dict(self, *, with_errors: bool = True) -> dict[str, Any]:
        """The JSON the doors answer; `with_errors` adds each failure's text (it may
        name hosts, so the doors show it to staff only)."""
        return {
            "status": OK if self.ok else DOWN,
            "checks": {
                name: check.as_dict(with_errors=with_errors) for name, check in self.checks.items()
            },
        }


def _timed(probe: Callable[[], dict[str, Any] | None], timeout: float) -> Check:
    """Run `probe` on a thread of its own, so a store that never answers costs
    `timeout` seconds, not the request."""
    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            outcome["extra"] = probe() or {}
        except Exception as exc:
            outcome["error"] = f"{type(exc).__name__}: {exc}"[:500]
        finally:
            connections.close_all()

    started = time.monotonic()
    thread = threading.Thread(target=body, name="yamlgraph-health", daemon=True)
    thread.start()
    thread.join(timeout)
    seconds = time.monotonic() - started
    if thread.is_alive():
        return Check(DOWN, seconds, f"no answer within {timeout:g} s")
    if "error" in outcome:
        return Check(DOWN, seconds, outcome["error"])
    return Check(OK, seconds, extra=outcome.get("extra", {}))


def check_database() -> Check:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return Check(DOWN, time.monotonic() - started, f"{type(exc).__name__}: {exc}"[:500])
    return Check(OK, time.monotonic() - started)


def _probe_checkpointer() -> dict[str, Any]:
    from yamlgraph.storage import checkpointer_type
    from yamlgraph_django.services.stores import default_checkpointer, get_saver, store_errors

    config = default_checkpointer()
    saver = get_saver(config)
    with store_errors():
        saver.get_tuple({"configurable": {"thread_id": PROBE_THREAD, "checkpoint_ns": ""}})
    return {"type": checkpointer_type(config)}


def _probe_events() -> dict[str, Any]:
    from yamlgraph_django.events import event_log

    log = event_log()
    log.read(PROBE_SESSION, None, limit=1)
    return {"type": "database" if log.in_database else "redis"}


def check_worker() -> Check:
    """Up when a worker was seen within WORKER_STALE_SECONDS; down otherwise, unless
    WORKER_REQUIRED is off and no run waits for one."""
    started = time.monotonic()
    try:
        seen = workers.newest_heartbeat(fresh=True)
        alive = workers.live_workers()
        stranded, oldest = workers.stranded_runs()
    except Exception as exc:
        return Check(DOWN, time.monotonic() - started, f"{type(exc).__name__}: {exc}"[:500])
    extra: dict[str, Any] = {
        "alive": alive,
        "last_seen": seen,
        "age_seconds": round((timezone.now() - seen).total_seconds(), 1) if seen else None,
        "queued_without_worker": stranded,
    }
    needed = workers.workers_required() or stranded > 0
    if alive or not needed:
        return Check(OK, time.monotonic() - started, extra=extra)
    detail = (
        f"no worker seen for {app_settings.WORKER_STALE_SECONDS} s"
        if seen is not None
        else "no worker has ever been seen"
    )
    if stranded:
        detail += f"; {stranded} run(s) queued since {oldest.isoformat(timespec='seconds')}"
    return Check(DOWN, time.monotonic() - started, f"{detail}: {workers.START_WORKER}", extra)


def health_report() -> HealthReport:
    """Ask every part; see the module docstring."""
    timeout = float(app_settings.HEALTH_TIMEOUT_SECONDS)
    database = check_database()
    checks = {
        "database": database,
        "checkpointer": _timed(_probe_checkpointer, timeout),
        "events": _timed(_probe_events, timeout),
        "worker": check_worker() if database.status == OK else Check(DOWN, 0.0, "no database"),
    }
    return HealthReport(checks)
