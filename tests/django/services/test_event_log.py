"""The event log of runs, on both backends: the database table and Redis Streams.

A reader resumes from any id it was given and must get exactly what came after it;
each test runs once against `SessionEvent` and once against the Valkey test server
(EVENTS_URL), and once against a Valkey without modules (plain Redis), with the log chosen by the setting as a deployed process chooses it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.test import override_settings

from yamlgraph_django.events import EventLog, InvalidEventId, event_log
from yamlgraph_django.events.database import DatabaseEventLog
from yamlgraph_django.events.redis import RedisEventLog

pytestmark = pytest.mark.django_db

PARTS = [
    ("metadata", {"run_id": 7}),
    ("values", {"topic": "logs"}),
    ("updates", {"ask": {"name_question": "Who?"}}),
    ("updates", {"__interrupt__": [{"id": "i1", "value": "Who?"}]}),
    ("end", {"run_id": 7, "status": "interrupted"}),
]


SERVERS = {"redis": "redis_clean_url", "plain-redis": "plain_redis_clean_url"}


@pytest.fixture(
    params=[
        "database",
        pytest.param("redis", marks=pytest.mark.redis),
        # Streams are core Redis: the log works on a Redis without modules too.
        pytest.param("plain-redis", marks=pytest.mark.redis),
    ]
)
def log(request: pytest.FixtureRequest, settings: Any) -> Iterator[EventLog]:
    """The event log EVENTS_URL selects: unset (the database), the Valkey server, or the
    Valkey server without modules."""
    server = SERVERS.get(request.param)
    url = request.getfixturevalue(server) if server else None
    value = {**getattr(settings, "YAMLGRAPH", {}), "EVENTS_URL": url}
    with override_settings(YAMLGRAPH=value):
        chosen = event_log()
        expected = RedisEventLog if url else DatabaseEventLog
        assert isinstance(chosen, expected)
        yield chosen


def new_session() -> str:
    return str(uuid.uuid4())


def as_tuples(events: list[Any]) -> list[tuple[Any, ...]]:
    return [(e.id, e.run_id, e.event, e.data) for e in events]


def test_parts_read_back_in_order_with_the_ids_append_returned(log: EventLog) -> None:
    session = new_session()
    first = log.append(session, 7, PARTS[:2])
    second = log.append(session, 7, PARTS[2:])
    other = new_session()
    log.append(other, 8, [("values", {"elsewhere": True})])

    events = log.read(session)

    assert [e.id for e in events] == first + second
    assert len(set(first + second)) == len(PARTS)
    assert [(e.event, e.data) for e in events] == PARTS
    assert {e.run_id for e in events} == {7}
    assert [(e.run_id, e.data) for e in log.read(other)] == [(8, {"elsewhere": True})]


def test_reading_after_any_id_returns_exactly_the_rest(log: EventLog) -> None:
    session = new_session()
    ids = log.append(session, 1, PARTS[:3]) + log.append(session, 2, PARTS[3:])
    everything = as_tuples(log.read(session))

    for position, event_id in enumerate(ids):
        assert as_tuples(log.read(session, after=event_id)) == everything[position + 1 :]
    assert log.read(session, after=ids[-1]) == []


def test_limit_caps_a_read_and_the_next_read_goes_on_from_its_last_id(log: EventLog) -> None:
    session = new_session()
    log.append(session, 1, PARTS)  # one batch: the database stores it as one row
    everything = as_tuples(log.read(session))

    pages: list[tuple[Any, ...]] = []
    after = None
    for _ in range(len(PARTS)):
        page = log.read(session, after=after, limit=2)
        assert 1 <= len(page) <= 2
        pages.extend(as_tuples(page))
        after = page[-1].id
        if len(pages) == len(PARTS):
            break
    assert pages == everything
    assert log.read(session, after=after, limit=2) == []


def test_trim_drops_only_the_given_sessions(log: EventLog) -> None:
    gone, also_gone, kept = new_session(), new_session(), new_session()
    for session in (gone, also_gone, kept):
        log.append(session, 1, PARTS[:2])

    log.trim([gone, also_gone])

    assert log.read(gone) == [] and log.read(also_gone) == []
    assert [(e.event, e.data) for e in log.read(kept)] == PARTS[:2]
    log.trim([])  # nothing to trim is fine


@pytest.mark.parametrize(
    "bad_id",
    ["", "abc", "12", "12-", "-1-0", "1-2-3", "1-0\n", " 1-0", "\u0661-0", "17000-x", "run-3"],
)
def test_an_id_this_log_never_hands_out_is_refused(log: EventLog, bad_id: str) -> None:
    session = new_session()
    log.append(session, 1, PARTS[:1])

    with pytest.raises(InvalidEventId):
        log.check_id(bad_id)
    with pytest.raises(InvalidEventId):
        log.read(session, after=bad_id)


def test_an_id_past_what_the_log_can_hold_is_refused(log: EventLog) -> None:
    huge = f"{2**64}-0"  # more than any row id or Redis stream id can be
    with pytest.raises(InvalidEventId):
        log.read(new_session(), after=huge)


@pytest.mark.django_db(transaction=True)
def test_a_reader_waits_on_the_log_and_is_woken_by_the_next_append(log: EventLog) -> None:
    """`wait` hands out what comes after the reader's offset once it comes (another
    thread appends it here; a worker process does in production), never before, and
    [] when nothing comes in time; `last_id` is the offset of "only what comes next"."""
    session = new_session()
    assert log.last_id(session) is None
    first = log.append(session, 7, PARTS[:2])
    assert log.last_id(session) == first[-1]

    def append_later() -> None:
        time.sleep(0.3)
        log.append(session, 7, PARTS[2:])
        connections.close_all()

    writer = threading.Thread(target=append_later)
    started = time.monotonic()
    writer.start()
    seen: list[Any] = []
    while len(seen) < len(PARTS) - 2 and time.monotonic() - started < 8:
        after = seen[-1].id if seen else first[-1]
        seen += log.wait(session, after, timeout=5)
    writer.join()
    assert [(e.event, e.data) for e in seen] == PARTS[2:]
    assert time.monotonic() - started < 4  # woken by the append, not by the timeout
    assert log.last_id(session) == seen[-1].id

    quiet = time.monotonic()
    assert log.wait(session, seen[-1].id, timeout=0.3) == []
    assert time.monotonic() - quiet < 2


@pytest.mark.django_db(transaction=True)
def test_an_async_reader_waits_on_its_event_loop_and_is_woken_by_an_append_here(
    log: EventLog,
) -> None:
    """ASGI streams and the WebSocket pump wait for the next part on their event loop
    (`appended.wait_async`), holding no thread: an append in this process (by a run on
    another thread) wakes them long before their timeout; an append made between their
    read and their wait is not missed; with nothing appended they wait out the timeout."""
    import asyncio

    from yamlgraph_django.events.base import appended

    session = new_session()

    def append_later() -> None:
        time.sleep(0.3)
        log.append(session, 7, PARTS[:1])
        connections.close_all()

    async def wait_for_the_append() -> float:
        seen = appended.generation
        writer = threading.Thread(target=append_later)
        started = time.monotonic()
        writer.start()
        await appended.wait_async(seen, timeout=30)
        waited = time.monotonic() - started
        writer.join()
        return waited

    assert asyncio.run(wait_for_the_append()) < 10  # woken, not timed out
    assert [e.event for e in log.read(session)] == ["metadata"]

    async def wait_after_a_missed_append(seen: int) -> float:
        started = time.monotonic()
        await appended.wait_async(seen, timeout=30)
        return time.monotonic() - started

    seen = appended.generation
    log.append(session, 7, PARTS[1:2])  # after the reader's read, before its wait
    assert asyncio.run(wait_after_a_missed_append(seen)) < 10

    async def wait_on_silence() -> float:
        started = time.monotonic()
        await appended.wait_async(appended.generation, timeout=0.3)
        return time.monotonic() - started

    assert asyncio.run(wait_on_silence()) >= 0.3
