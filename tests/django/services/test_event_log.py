"""The event log of runs, on both backends: the database table and Redis Streams.

A reader resumes from any id it was given and must get exactly what came after it;
each test runs once against `SessionEvent` and once against the Valkey test server
(EVENTS_URL), and once against a Valkey without modules (plain Redis), with the log chosen by the setting as a deployed process chooses it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
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
