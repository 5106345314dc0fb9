"""Bulk actions on the sessions list: each says how many it changed and why it skipped others."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.django.admin.conftest import messages_of, url
from yamlgraph_django.models import Run, RunChannel, RunKind, Session, SessionStatus

pytestmark = pytest.mark.django_db


def act(client: Client, action: str, sessions: list[Session], **extra: Any) -> Any:
    data = {"action": action, "_selected_action": [str(s.pk) for s in sessions], **extra}
    return client.post(url("session_changelist"), data, follow=True)


def status(session: Session) -> str:
    return Session.objects.get(pk=session.pk).status


def make_running(session: Session, *, lease_in: dt.timedelta) -> None:
    """The session as another process left it: running, with a lease ending at now+lease_in."""
    Session.objects.filter(pk=session.pk).update(
        status=SessionStatus.RUNNING, lease_expires_at=timezone.now() + lease_in
    )


def test_cancel_selected_asks_first(admin_client, start):
    waiting = [start("interview"), start("interview")]

    confirm = act(admin_client, "cancel_sessions", waiting)

    page = confirm.content.decode()
    assert "Cancel these 2 sessions? They stop for good" in page
    assert all(str(s.pk) in page for s in waiting)
    assert "Yes, cancel them" in page and "No, take me back" in page
    assert [status(s) for s in waiting] == [SessionStatus.INTERRUPTED] * 2  # asking changed nothing
    assert not Run.objects.filter(kind=RunKind.CANCEL).exists()


def test_cancel_selected(admin_client, admin_user, start):
    waiting = [start("interview"), start("interview")]
    done = start("approval", {"amount": 5.0, "requester": "Amy"})
    busy = start("interview")
    make_running(busy, lease_in=dt.timedelta(minutes=5))

    response = act(admin_client, "cancel_sessions", [*waiting, done, busy], post="yes")

    assert messages_of(response) == [
        "Cancelled 2 sessions. Skipped 2: 1 already completed, 1 running right now."
    ]
    assert [status(s) for s in waiting] == [SessionStatus.CANCELLED] * 2
    assert status(done) == SessionStatus.COMPLETED
    assert status(busy) == SessionStatus.RUNNING
    runs = Run.objects.filter(kind=RunKind.CANCEL)
    assert {(r.session_id, r.actor, r.channel) for r in runs} == {
        (s.pk, admin_user, RunChannel.ADMIN) for s in waiting
    }


def test_delete_selected_asks_then_deletes_with_checkpoints(admin_client, start, stored_threads):
    gone = [start("interview"), start("approval", {"amount": 5.0, "requester": "Amy"})]
    busy = start("interview")
    make_running(busy, lease_in=dt.timedelta(minutes=5))
    kept = start("interview")

    confirm = act(admin_client, "delete_with_checkpoints", [*gone, busy])
    page = confirm.content.decode()
    assert "Delete these 3 sessions, their runs and their checkpoints" in page
    assert "1 of them is running right now" in page
    assert Session.objects.count() == 4  # asking changed nothing

    response = act(admin_client, "delete_with_checkpoints", [*gone, busy], post="yes")

    assert messages_of(response) == [
        "Deleted 2 sessions with their checkpoints. Skipped 1: 1 running right now."
    ]
    assert set(Session.objects.values_list("pk", flat=True)) == {busy.pk, kept.pk}
    threads = stored_threads()
    assert not {s.thread_id for s in gone} & threads  # gone from the real SQLite store
    assert {busy.thread_id, kept.thread_id} <= threads


def test_recover_stale(admin_client, admin_user, start):
    crashed = start("interview")
    make_running(crashed, lease_in=-dt.timedelta(minutes=1))
    crashed_elsewhere = start("interview")
    make_running(crashed_elsewhere, lease_in=-dt.timedelta(minutes=1))
    live = start("interview")
    make_running(live, lease_in=dt.timedelta(minutes=5))
    waiting = start("interview")

    response = act(admin_client, "recover_stale", [crashed, live, waiting])

    assert messages_of(response) == [
        "Recovered 1 session. Also recovered 1 stale session that was not selected. "
        "Skipped 2: 1 not running (interrupted), 1 still running within its lease."
    ]
    # The checkpoint says the crashed run had reached its first question.
    assert status(crashed) == SessionStatus.INTERRUPTED
    assert status(crashed_elsewhere) == SessionStatus.INTERRUPTED
    assert status(live) == SessionStatus.RUNNING
    recovery = Run.objects.get(session=crashed, kind=RunKind.RECOVER)
    assert recovery.actor == admin_user and recovery.channel == RunChannel.ADMIN


def test_prune_expired(admin_client, start, stored_threads):
    expired = start("interview")
    not_yet = start("interview")
    forever = start("interview")
    now = timezone.now()
    Session.objects.filter(pk=expired.pk).update(expires_at=now - dt.timedelta(hours=1))
    Session.objects.filter(pk=not_yet.pk).update(expires_at=now + dt.timedelta(hours=1))

    response = act(admin_client, "prune_expired", [expired, not_yet, forever])

    assert messages_of(response) == [
        "Pruned 1 session that had expired. Skipped 2: 1 no expiry set, 1 not expired yet."
    ]
    assert set(Session.objects.values_list("pk", flat=True)) == {not_yet.pk, forever.pk}
    assert expired.thread_id not in stored_threads()


def test_actions_that_change_nothing_say_why(admin_client, start):
    done = start("approval", {"amount": 5.0, "requester": "Amy"})
    response = act(admin_client, "cancel_sessions", [done], post="yes")
    assert messages_of(response) == ["Cancelled 0 sessions. Skipped 1: 1 already completed."]


def test_actions_follow_permissions(operator_client, viewer_client, start):
    session = start("interview")

    def offered(client: Client) -> set[str]:
        choices = client.get(url("session_changelist")).context["action_form"].fields["action"]
        return {name for name, _label in choices.choices if name}

    assert offered(operator_client) == {
        "cancel_sessions",
        "delete_with_checkpoints",
        "recover_stale",
        "prune_expired",
    }
    listing = viewer_client.get(url("session_changelist"))
    assert listing.status_code == 200
    assert listing.context.get("action_form") is None
    act(viewer_client, "cancel_sessions", [session], post="yes")
    assert status(session) == SessionStatus.INTERRUPTED
