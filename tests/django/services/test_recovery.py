"""recover_stale_sessions: a process died mid-run and left its session `running`.

Each test leaves a session as a killed process would: the row says `running` under a
lease that has expired, the crashed run's Run row still says running, and the checkpoint
holds whatever the graph had saved before the crash.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from yamlgraph_django.models import Run, RunKind, RunStatus, Session, SessionStatus
from yamlgraph_django.services import (
    CRASH_ERROR,
    recover_stale_sessions,
    resume_session,
    start_session,
)

pytestmark = pytest.mark.django_db


def crash(session: Session, *, lease_ago: dt.timedelta = dt.timedelta(minutes=1)) -> None:
    """Leave `session` as a killed process would: running, lease expired, output unwritten."""
    Session.objects.filter(pk=session.pk).update(
        status=SessionStatus.RUNNING,
        lease_expires_at=timezone.now() - lease_ago,
        interrupts=[],
        output=None,
        error="",
        finished_at=None,
    )
    Run.objects.create(session=session, kind=RunKind.RESUME, channel="api", value="lost")


def test_a_crash_while_waiting_recovers_to_interrupted(graphs):
    session = start_session("interview")
    question = session.interrupts
    crash(session)

    recovered = recover_stale_sessions(channel="command")

    assert [s.pk for s in recovered] == [session.pk]
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert session.interrupts == question
    assert session.lease_expires_at is None
    lost = session.runs.get(value="lost")
    assert lost.status == RunStatus.FAILED
    assert "lease expired" in lost.error
    recover_run = session.runs.get(kind=RunKind.RECOVER)
    assert (recover_run.status, recover_run.channel, recover_run.value) == (
        RunStatus.SUCCEEDED,
        "command",
        {"status": "interrupted"},
    )
    resume_session(session, "Ada")  # and it carries on as if nothing happened
    assert "Ada" in session.interrupts[0]["value"]


def test_a_crash_after_the_graph_finished_recovers_to_completed(graphs):
    session = start_session("checked")
    resume_session(session, "yes")
    expected = session.output
    crash(session)

    recover_stale_sessions()

    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED
    assert session.output == expected
    assert session.finished_at is not None


def test_a_crash_mid_graph_recovers_to_failed_and_resume_retries(graphs, fail_flag):
    fail_flag.touch()
    session = start_session("flaky")  # its checkpoint waits to run `work`
    crash(session)

    recover_stale_sessions()

    session.refresh_from_db()
    assert session.status == SessionStatus.FAILED
    assert session.error == CRASH_ERROR
    assert session.runs.get(kind=RunKind.RECOVER).error == CRASH_ERROR
    fail_flag.unlink()
    resume_session(session)
    assert session.status == SessionStatus.COMPLETED
    assert session.output["result"] == "done"


def test_a_crash_before_the_first_checkpoint_fails_and_resume_starts_over(
    graphs, yamlgraph_settings
):
    # A queued start that died before LangGraph wrote anything: nothing in the store.
    session = start_session("approval", {"amount": 5, "requester": "A"}, thread_id="never-ran")
    Session.objects.filter(pk=session.pk).update(thread_id="never-ran-2")
    crash(session)

    recover_stale_sessions()

    session.refresh_from_db()
    assert session.status == SessionStatus.FAILED
    resume_session(session)
    assert session.status == SessionStatus.COMPLETED
    assert session.output["approved"] is True


def test_live_and_settled_sessions_are_left_alone(graphs):
    live = start_session("interview")
    crash(live, lease_ago=-dt.timedelta(minutes=5))  # lease still valid: it is running
    waiting = start_session("interview")

    assert recover_stale_sessions() == []

    live.refresh_from_db()
    waiting.refresh_from_db()
    assert live.status == SessionStatus.RUNNING
    assert waiting.status == SessionStatus.INTERRUPTED
    assert not Run.objects.filter(kind=RunKind.RECOVER).exists()


def test_now_decides_what_is_stale(graphs):
    session = start_session("interview")
    crash(session, lease_ago=-dt.timedelta(minutes=5))

    assert recover_stale_sessions(now=timezone.now() + dt.timedelta(minutes=10))
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED


def test_an_unreachable_store_skips_the_session_for_later(graphs, store_down):
    session = start_session("interview")
    crash(session)

    with store_down:
        assert recover_stale_sessions() == []

    session.refresh_from_db()
    assert session.status == SessionStatus.RUNNING
    assert [s.pk for s in recover_stale_sessions()] == [session.pk]


@pytest.mark.django_db(transaction=True)
def test_a_run_that_outlives_its_lease_cannot_overwrite_the_recovery(
    graphs, graph_dir, yamlgraph_settings
):
    """A slow run presumed crashed: its late result must not clobber the recovered row.

    The lease value is the claim's token, so the late writer's compare-and-set misses;
    its work is not lost either: it is in the checkpoint, and a resume picks it up.
    """
    tools = graph_dir / "tools"
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "LEASE_SECONDS": 0}):
        thread, started = start_slow_in_a_thread(tools)
        session = Session.objects.get(graph__name="slow")
        assert session.status == SessionStatus.RUNNING

        recovered = recover_stale_sessions()
        assert [s.pk for s in recovered] == [session.pk]
        (tools / "GO").touch()
        thread.join(timeout=30)

    session.refresh_from_db()
    assert (session.status, session.error) == (SessionStatus.FAILED, CRASH_ERROR)
    assert started[0].status == SessionStatus.FAILED  # what the slow caller got back
    resume_session(session)
    assert session.status == SessionStatus.COMPLETED
    assert session.output == {"result": "slow done"}


@pytest.mark.django_db(transaction=True)
def test_a_run_longer_than_its_lease_is_kept_alive_by_its_heartbeat(
    graphs, graph_dir, yamlgraph_settings
):
    """The run renews its lease while it works: three lease lengths later nothing is
    stale, and the run ends as it would have, recorded on the row."""
    tools = graph_dir / "tools"
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "LEASE_SECONDS": 1}):
        thread, started = start_slow_in_a_thread(tools)
        time.sleep(3)  # three leases

        assert recover_stale_sessions() == []
        (tools / "GO").touch()
        thread.join(timeout=30)

    session = Session.objects.get(graph__name="slow")
    assert session.status == SessionStatus.COMPLETED
    assert started[0].status == SessionStatus.COMPLETED
    assert session.output == {"result": "slow done"}
    assert not session.runs.filter(kind="recover").exists()


def start_slow_in_a_thread(tools: Any) -> tuple[threading.Thread, list[Session]]:
    """Start the `slow` graph in another thread; return once its python node runs
    (it then waits for a GO file). The list receives what start_session returned."""
    started: list[Session] = []

    def run() -> None:
        try:
            started.append(start_session("slow"))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    for _ in range(1000):
        if (tools / "STARTED").exists():
            break
        time.sleep(0.01)
    return thread, started
