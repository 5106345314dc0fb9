"""The event log in the project's database (the `SessionEvent` table): no server needed.

Each flush is one row holding its parts (one INSERT, no transaction of its own); a part's
id is `<row id>-<index>`, which sorts like the log. A reader reads with one indexed
query; a reader waiting for more (`wait`) is woken by an append in this process and
reads again at least every WAKE_SECONDS for appends made by other processes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction

from yamlgraph_django.events.base import Event, EventLog, InvalidEventId, appended
from yamlgraph_django.models import SessionEvent

_EVENT_ID = re.compile(r"([0-9]{1,18})-([0-9]{1,9})")

#: The longest a waiting reader sleeps between reads: appends by other processes (a
#: worker) wake nobody here.
WAKE_SECONDS = 0.25


class DatabaseEventLog(EventLog):
    in_database = True

    def append(
        self, session_id: str, run_id: int | None, parts: Sequence[tuple[str, Any]]
    ) -> list[str]:
        if not parts:
            return []
        row = SessionEvent.objects.create(
            session_id=session_id, run_id=run_id, parts=[[event, data] for event, data in parts]
        )
        transaction.on_commit(appended.notify)  # at once outside a transaction
        return [f"{row.pk}-{index}" for index in range(len(parts))]

    def read(self, session_id: str, after: str | None = None, *, limit: int = 500) -> list[Event]:
        rows = SessionEvent.objects.filter(session_id=session_id)
        row_after, index_after = -1, -1
        if after is not None:
            row_after, index_after = self.position(after)
            rows = rows.filter(id__gte=row_after)
        # A row holds several parts and the first may be read already: one row more than
        # `limit` always holds `limit` unread parts, if the log has them.
        events: list[Event] = []
        batches = rows.order_by("id").values_list("id", "run_id", "parts")[: limit + 1]
        for pk, run_id, parts in batches:
            for index, (event, data) in enumerate(parts):
                if pk == row_after and index <= index_after:
                    continue
                events.append(Event(f"{pk}-{index}", run_id, event, data))
        return events[:limit]

    def wait(self, session_id: str, after: str | None, timeout: float) -> list[Event]:
        # The caller has just read up to `after`: sleep until this process appends
        # something (or WAKE_SECONDS, for other processes' appends), then read once.
        appended.wait(appended.generation, max(0.0, min(timeout, WAKE_SECONDS)))
        return self.read(session_id, after)

    def last_id(self, session_id: str) -> str | None:
        rows = SessionEvent.objects.filter(session_id=session_id).order_by("-id")
        row = rows.values_list("id", "parts").first()
        return None if row is None else f"{row[0]}-{len(row[1]) - 1}"

    def trim(self, session_ids: Iterable[str]) -> None:
        ids = [str(s) for s in session_ids]
        for start in range(0, len(ids), 500):
            SessionEvent.objects.filter(session_id__in=ids[start : start + 500]).delete()

    def position(self, event_id: str) -> tuple[int, int]:
        match = _EVENT_ID.fullmatch(str(event_id))
        if match is None:
            raise InvalidEventId(f"'{event_id}' is not an event id of this log (like 12-0)")
        return int(match[1]), int(match[2])

    def check_id(self, event_id: str) -> str:
        self.position(event_id)
        return str(event_id)
