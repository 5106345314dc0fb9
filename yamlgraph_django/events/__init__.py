"""The event log of runs: every run's LangGraph stream, readable from any process.

    from yamlgraph_django.events import event_log
    ids = event_log().append(session_id, run_id, [("updates", {...})])
    event_log().read(session_id, after=ids[-1])

Redis Streams when YAMLGRAPH["EVENTS_URL"] is a redis:// URL, else the database table
`SessionEvent`. The log object is made once per process and dropped (connections
closed) when the YAMLGRAPH setting changes.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.signals import setting_changed

from yamlgraph_django.conf import SETTING_NAME, app_settings
from yamlgraph_django.events.base import Event, EventLog, InvalidEventId

__all__ = ["Event", "EventLog", "InvalidEventId", "event_log"]

_lock = threading.Lock()
_log: list[EventLog] = []


def event_log() -> EventLog:
    """This process's event log, as the EVENTS_URL setting chooses."""
    with _lock:
        if not _log:
            _log.append(_make(app_settings.EVENTS_URL))
        return _log[0]


def _make(url: str | None) -> EventLog:
    if not url:
        from yamlgraph_django.events.database import DatabaseEventLog

        return DatabaseEventLog()
    scheme = str(url).partition("://")[0].lower()
    if scheme in ("redis", "rediss", "unix"):
        from yamlgraph_django.extras import require_redis_event_log

        require_redis_event_log()  # names the [redis] extra when redis is missing
        from yamlgraph_django.events.redis import RedisEventLog

        return RedisEventLog(str(url))
    raise ValueError(
        f"YAMLGRAPH['EVENTS_URL'] must be empty (database table) or a redis:// URL, not {url!r}"
    )


def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        with _lock:
            while _log:
                _log.pop().close()


setting_changed.connect(_reset)
