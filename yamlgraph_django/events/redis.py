"""The event log in Redis Streams: one stream per session (`yamlgraph:events:<id>`).

XADD per flushed batch in one pipeline; XRANGE from an exclusive offset to read, XREAD
BLOCK to wait for what comes next. Each
stream is capped (approximately) at MAXLEN entries, and deleted with its session.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from yamlgraph_django.events.base import Event, EventLog, InvalidEventId, appended

KEY_PREFIX = "yamlgraph:events:"
MAXLEN = 100_000
_STREAM_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")
_MAX_PART = 2**64 - 1  # a stream id is two unsigned 64-bit numbers
#: The longest one XREAD BLOCK waits: below the client's socket timeout (10 s).
BLOCK_SECONDS = 5.0


class RedisEventLog(EventLog):
    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(
            url, socket_connect_timeout=5, socket_timeout=10, health_check_interval=30
        )

    def append(
        self, session_id: str, run_id: int | None, parts: Sequence[tuple[str, Any]]
    ) -> list[str]:
        if not parts:
            return []
        key = KEY_PREFIX + str(session_id)
        pipe = self.client.pipeline(transaction=False)
        for event, data in parts:
            fields = {"run": "" if run_id is None else str(run_id), "event": event}
            fields["data"] = json.dumps(data, separators=(",", ":"))
            pipe.xadd(key, fields, maxlen=MAXLEN, approximate=True)
        ids = [i.decode() if isinstance(i, bytes) else str(i) for i in pipe.execute()]
        appended.notify()  # this process's async readers (their sync peers XREAD BLOCK)
        return ids

    def read(self, session_id: str, after: str | None = None, *, limit: int = 500) -> list[Event]:
        start = "-" if after is None else f"({self.check_id(after)}"
        entries = self.client.xrange(KEY_PREFIX + str(session_id), start, "+", count=limit)
        return self.events(entries)

    def wait(self, session_id: str, after: str | None, timeout: float) -> list[Event]:
        after = "0-0" if after is None else self.check_id(after)
        block = int(max(0.0, min(timeout, BLOCK_SECONDS)) * 1000)
        if block <= 0:
            return self.read(session_id, None if after == "0-0" else after)
        found = self.client.xread({KEY_PREFIX + str(session_id): after}, count=500, block=block)
        return self.events(found[0][1]) if found else []

    def last_id(self, session_id: str) -> str | None:
        newest = self.client.xrevrange(KEY_PREFIX + str(session_id), "+", "-", count=1)
        return newest[0][0].decode() if newest else None

    def events(self, entries: Any) -> list[Event]:
        """Events of XRANGE/XREAD entries."""
        events = []
        for raw_id, fields in entries:
            run = fields.get(b"run", b"").decode()
            events.append(
                Event(
                    raw_id.decode(),
                    int(run) if run else None,
                    fields[b"event"].decode(),
                    json.loads(fields[b"data"]),
                )
            )
        return events

    def trim(self, session_ids: Iterable[str]) -> None:
        keys = [KEY_PREFIX + str(s) for s in session_ids]
        for start in range(0, len(keys), 500):
            if keys[start : start + 500]:
                self.client.delete(*keys[start : start + 500])

    def check_id(self, event_id: str) -> str:
        match = _STREAM_ID.fullmatch(str(event_id))
        if match is None or max(int(match[1]), int(match[2])) > _MAX_PART:
            raise InvalidEventId(
                f"'{event_id}' is not an event id of this log (a Redis stream id like 1-0)"
            )
        return str(event_id)

    def close(self) -> None:
        self.client.close()
