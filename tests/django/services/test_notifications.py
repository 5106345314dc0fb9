"""Signals and webhooks: what a project hears when a session waits, ends or fails.

Each transition is announced once, after its transaction commits: the signals with the
session as committed, and the session's webhook (a real HTTP server in a thread, which
refuses the first attempt of each delivery) with exactly one accepted, signed POST per
event. Tasks run on Django's Immediate backend (retries sleep in the task) and on
django-tasks-db with its real `db_worker` (retries are deferred with `run_after`).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from tests.django.webhook_receiver import IMMEDIATE, LOCAL_RECEIVER, SECRET, WebhookReceiver, signed
from yamlgraph_django.models import Session, SessionStatus
from yamlgraph_django.services import (
    get_state,
    recover_stale_sessions,
    resume_session,
    start_session,
)
from yamlgraph_django.services.webhooks import deliver_webhook
from yamlgraph_django.signals import session_completed, session_failed, session_interrupted

pytestmark = pytest.mark.django_db

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

SIGNALS = {
    "interrupted": session_interrupted,
    "completed": session_completed,
    "failed": session_failed,
}


@contextmanager
def heard() -> Iterator[list[tuple[str, str, str]]]:
    """(signal, session id, session status as sent) for every session signal sent."""
    received: list[tuple[str, str, str]] = []
    receivers = {}
    for name, signal in SIGNALS.items():

        def receive(sender: Any, session: Session, name: str = name, **kwargs: Any) -> None:
            assert sender is Session
            received.append((name, str(session.pk), session.status))

        receivers[name] = receive
        signal.connect(receive, weak=False)
    try:
        yield received
    finally:
        for name, signal in SIGNALS.items():
            signal.disconnect(receivers[name])


@pytest.fixture
def webhook_settings(yamlgraph_settings: dict[str, Any]) -> Iterator[dict[str, Any]]:
    value = {
        **yamlgraph_settings,
        **LOCAL_RECEIVER,
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_BACKOFF_SECONDS": 0.05,
        "WEBHOOK_RETRIES": 3,
    }
    with override_settings(YAMLGRAPH=value, TASKS=IMMEDIATE):
        yield value


def test_each_transition_is_signalled_once_and_only_after_commit(
    graphs, django_capture_on_commit_callbacks
):
    with heard() as received:
        with django_capture_on_commit_callbacks() as callbacks:
            session = start_session("interview")
        assert received == []  # not committed yet: nobody has heard of it

        for callback in callbacks:
            callback()
        assert received == [("interrupted", str(session.pk), "interrupted")]

        with django_capture_on_commit_callbacks(execute=True):
            resume_session(session, "Ada")
            resume_session(session, "ship it")

    assert received == [
        ("interrupted", str(session.pk), "interrupted"),
        ("interrupted", str(session.pk), "interrupted"),
        ("completed", str(session.pk), "completed"),
    ]


def test_a_failed_run_is_signalled_as_failed(graphs, django_capture_on_commit_callbacks):
    session = start_session("checked")
    with heard() as received, django_capture_on_commit_callbacks(execute=True):
        resume_session(session, "bad")

    assert received == [("failed", str(session.pk), "failed")]


def test_a_rolled_back_change_is_never_signalled(graphs, django_capture_on_commit_callbacks):
    with (
        heard() as received,
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        start_session("interview")
        raise RuntimeError("the caller's transaction fails after the run")

    assert received == []
    assert not Session.objects.exists()


def test_a_recovered_session_is_signalled_with_what_recovery_found(
    graphs, django_capture_on_commit_callbacks
):
    session = start_session("interview")
    past = timezone.now() - dt.timedelta(minutes=5)
    Session.objects.filter(pk=session.pk).update(status="running", lease_expires_at=past)

    with heard() as received, django_capture_on_commit_callbacks(execute=True):
        recover_stale_sessions()

    assert received == [("interrupted", str(session.pk), "interrupted")]


def test_a_receiver_that_raises_breaks_nothing(graphs, django_capture_on_commit_callbacks):
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("the mail server is down")

    session_interrupted.connect(broken)
    try:
        with heard() as received, django_capture_on_commit_callbacks(execute=True):
            session = start_session("interview")
    finally:
        session_interrupted.disconnect(broken)

    assert session.status == SessionStatus.INTERRUPTED
    assert received == [("interrupted", str(session.pk), "interrupted")]


# --------------------------------------------------------------------------- webhooks


def deliveries(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    """The accepted POSTs' bodies, each checked for its signature and event header."""
    bodies = []
    for headers, body in receiver.accepted:
        assert signed(headers, body), headers
        assert headers["content-type"] == "application/json"
        data = json.loads(body)
        assert headers["x-yamlgraph-event"] == data["event"]
        bodies.append(data)
    return bodies


def test_each_event_is_posted_once_signed_after_a_refused_attempt(
    graphs, webhook_settings, django_capture_on_commit_callbacks
):
    with (
        WebhookReceiver(fail_first=1) as receiver,
        django_capture_on_commit_callbacks(execute=True),
    ):
        session = start_session("interview", {"topic": "Django"}, webhook=receiver.url)
        resume_session(session, "Ada")
        resume_session(session, "ship it")

    bodies = deliveries(receiver)
    assert [body["event"] for body in bodies] == [
        "session.interrupted",
        "session.interrupted",
        "session.completed",
    ]
    assert len(receiver.refused) == 3  # each delivery's first attempt got a 500
    assert [body for _headers, body in receiver.refused] == [b for _h, b in receiver.accepted]
    first, second, done = bodies
    assert first["id"] == str(session.pk)
    assert first["graph"] == {"name": "interview", "version": 1}
    assert first["status"] == "interrupted"
    assert first["interrupts"][0]["value"] == "Hi! What is your name?"
    assert second["interrupts"][0]["value"].startswith("Thanks Ada.")
    assert first["revision"] < second["revision"] < done["revision"]
    assert done["status"] == "completed" and done["interrupts"] == []
    assert "Ada" in done["values"]["summary"] and done["error"] is None
    # The same word and the same values as the API's session (`values`), not `output`.
    assert done["values"] == get_state(session)["values"]
    assert first["thread_id"] == session.thread_id
    assert set(first) == {
        "event",
        "id",
        "thread_id",
        "graph",
        "status",
        "values",
        "interrupts",
        "error",
        "metadata",
        "revision",
        "created_at",
        "updated_at",
    }


def test_a_receiver_that_never_accepts_gets_the_configured_attempts(
    graphs, webhook_settings, django_capture_on_commit_callbacks
):
    with (
        WebhookReceiver(fail_first=100) as receiver,
        django_capture_on_commit_callbacks(execute=True),
    ):
        start_session("interview", webhook=receiver.url)

    assert receiver.accepted == []
    assert len(receiver.refused) == 1 + webhook_settings["WEBHOOK_RETRIES"]


def test_an_unreachable_receiver_does_not_fail_the_run(
    graphs, webhook_settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session = start_session("interview", webhook="http://127.0.0.1:1/hook")

    assert Session.objects.get(pk=session.pk).status == SessionStatus.INTERRUPTED


def test_sessions_without_a_webhook_post_nothing(
    graphs, webhook_settings, django_capture_on_commit_callbacks
):
    with WebhookReceiver() as receiver, django_capture_on_commit_callbacks(execute=True):
        start_session("interview")

    assert receiver.accepted == receiver.refused == []


@pytest.mark.django_db(transaction=True)  # the worker closes connections, as workers do
def test_a_deferring_backend_retries_later_on_its_worker(graphs, webhook_settings):
    from django_tasks_db.models import DBTaskResult

    with override_settings(TASKS=DATABASE_QUEUE), WebhookReceiver(fail_first=1) as receiver:
        assert deliver_webhook.get_backend().supports_defer
        start_session("interview", webhook=receiver.url)  # autocommit: committed at once
        assert DBTaskResult.objects.count() == 1  # queued, not run: no worker yet

        work()  # the first attempt: refused, so a retry is queued to run later
        assert (len(receiver.refused), len(receiver.accepted)) == (1, 0)
        retry = DBTaskResult.objects.filter(status="READY").get()
        assert retry.run_after is not None and retry.run_after > retry.enqueued_at

        time.sleep(webhook_settings["WEBHOOK_BACKOFF_SECONDS"] * 2)
        work()

    assert len(receiver.accepted) == 1
    assert deliveries(receiver)[0]["event"] == "session.interrupted"
    assert receiver.refused[0][1] == receiver.accepted[0][1]


def work() -> None:
    """A real django-tasks-db worker: run every task that is due, then stop."""
    call_command("db_worker", batch=True, no_startup_delay=True, stdout=io.StringIO())
