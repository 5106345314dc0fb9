"""delete_session and prune_expired remove the checkpoints from the real store, too.

Each store is read directly (the SQLite file's tables, Redis keys, Postgres rows): a
deleted session whose checkpoints linger would leak data the user asked to delete.
"""

from __future__ import annotations

import datetime as dt
from contextlib import closing
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from yamlgraph_django.exceptions import (
    CheckpointerUnavailable,
    InvalidInput,
    SessionBusy,
    SessionNotFound,
)
from yamlgraph_django.models import Run, Session, SessionStatus
from yamlgraph_django.services import (
    cancel_session,
    delete_session,
    prune_expired,
    resume_session,
    start_session,
)

pytestmark = pytest.mark.django_db


def test_delete_removes_rows_and_checkpoints(graphs, stored_threads):
    keep = start_session("interview")
    gone = start_session("interview")
    resume_session(gone, "Ada")
    assert {keep.thread_id, gone.thread_id} <= stored_threads()

    delete_session(gone)

    assert stored_threads() == {keep.thread_id}
    assert list(Session.objects.all()) == [keep]
    assert not Run.objects.filter(session_id=gone.pk).exists()
    with pytest.raises(SessionNotFound):
        delete_session(gone.pk)


def test_a_running_session_cannot_be_deleted_until_its_lease_expires(graphs, stored_threads):
    session = start_session("interview")
    Session.objects.filter(pk=session.pk).update(
        status=SessionStatus.RUNNING, lease_expires_at=timezone.now() + dt.timedelta(minutes=5)
    )
    with pytest.raises(SessionBusy):
        delete_session(session)
    assert session.thread_id in stored_threads()

    Session.objects.filter(pk=session.pk).update(
        lease_expires_at=timezone.now() - dt.timedelta(minutes=5)
    )
    delete_session(session)  # crashed: deletable
    assert not Session.objects.exists()
    assert session.thread_id not in stored_threads()


def test_an_unreachable_store_deletes_nothing(graphs, stored_threads, store_down):
    session = start_session("interview")

    with store_down, pytest.raises(CheckpointerUnavailable):
        delete_session(session)

    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert session.lease_expires_at is None
    assert session.thread_id in stored_threads()


# --------------------------------------------------------------------------- prune


def age(session: Session, **delta: Any) -> None:
    """Make `session` look as if it was last touched `delta` ago, and expired then."""
    then = timezone.now() - dt.timedelta(**delta)
    Session.objects.filter(pk=session.pk).update(updated_at=then, expires_at=then)


def test_prune_deletes_expired_sessions_and_their_checkpoints(
    graphs, stored_threads, yamlgraph_settings
):
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "SESSION_TTL_MINUTES": 30}):
        expired = start_session("interview")
        done = start_session("approval", {"amount": 1, "requester": "A"})
        fresh = start_session("interview")
    no_ttl = start_session("interview")
    assert fresh.expires_at and no_ttl.expires_at is None
    age(expired, minutes=1)
    age(done, minutes=1)
    calls: list[tuple[int, int]] = []

    assert prune_expired(dry_run=True) == 2
    assert Session.objects.count() == 4

    assert prune_expired(progress=lambda done, total: calls.append((done, total))) == 2

    assert set(Session.objects.all()) == {fresh, no_ttl}
    assert stored_threads() == {fresh.thread_id, no_ttl.thread_id}
    assert calls == [(2, 2)]  # one call per batch


def test_prune_by_age_and_status(graphs, stored_threads):
    old_done = start_session("approval", {"amount": 1, "requester": "A"})
    old_waiting = start_session("interview")
    old_cancelled = cancel_session(start_session("interview"))
    new_done = start_session("approval", {"amount": 2, "requester": "B"})
    for session in (old_done, old_waiting, old_cancelled):
        age(session, days=40)

    assert prune_expired(older_than=dt.timedelta(days=30), status="completed") == 1
    assert not Session.objects.filter(pk=old_done.pk).exists()
    assert old_done.thread_id not in stored_threads()

    pruned = prune_expired(older_than=dt.timedelta(days=30), status=["interrupted", "cancelled"])
    assert pruned == 2
    assert list(Session.objects.all()) == [new_done]
    assert stored_threads() == {new_done.thread_id}


def test_prune_never_deletes_running_sessions(graphs, stored_threads):
    session = start_session("interview")
    Session.objects.filter(pk=session.pk).update(status=SessionStatus.RUNNING)
    age(session, days=400)

    assert prune_expired(older_than=dt.timedelta(days=1)) == 0
    assert prune_expired() == 0
    assert session.thread_id in stored_threads()


@pytest.mark.parametrize(
    "kwargs",
    [{"status": "finished"}, {"status": ["completed", "nope"]}, {"older_than": 30}],
)
def test_prune_arguments_are_checked(graphs, kwargs):
    with pytest.raises(InvalidInput):
        prune_expired(**kwargs)


# --------------------------------------------------------------------------- other stores


def redis_keys_of(url: str, thread_id: str) -> list[bytes]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return list(client.scan_iter(match=f"*{thread_id}*"))
    finally:
        client.close()


def test_delete_removes_checkpoints_from_redis(graphs, yamlgraph_settings, redis_clean_url):
    store = {"type": "redis", "url": redis_clean_url}
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "CHECKPOINTER_OVERRIDE": store}):
        keep = start_session("interview")
        gone = start_session("interview")
        resume_session(gone, "Ada")
        assert redis_keys_of(redis_clean_url, gone.thread_id)

        delete_session(gone)

        assert redis_keys_of(redis_clean_url, gone.thread_id) == []
        assert redis_keys_of(redis_clean_url, keep.thread_id)
        resume_session(keep, "Bo")  # the other session is intact
        assert "Bo" in keep.interrupts[0]["value"]


def postgres_rows_of(url: str, thread_id: str) -> int:
    import psycopg

    with closing(psycopg.connect(url)) as conn:
        counts = [
            conn.execute(
                f"SELECT count(*) FROM {table} WHERE thread_id = %s", [thread_id]
            ).fetchone()[0]
            for table in ("checkpoints", "checkpoint_writes", "checkpoint_blobs")
        ]
    return sum(counts)


def test_prune_removes_checkpoints_from_postgres(graphs, yamlgraph_settings, postgres_url):
    store = {"type": "postgres", "url": postgres_url}
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "CHECKPOINTER_OVERRIDE": store}):
        session = start_session("interview")
        assert postgres_rows_of(postgres_url, session.thread_id) > 0
        age(session, days=2)

        assert prune_expired(older_than=dt.timedelta(days=1)) == 1

    assert postgres_rows_of(postgres_url, session.thread_id) == 0
    assert not Session.objects.exists()
