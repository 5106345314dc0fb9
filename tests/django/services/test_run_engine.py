"""The run engine in one process: what a run publishes to the event log, a second run
arriving while one holds the session (multitask strategies, cancel), the log trimmed
with its session, and the crash sweeper re-running a session whose process died.

Runs that must be in flight while the test acts execute on a thread of the test
(`transaction=True` tests, so both threads see each other's commits); background
tasks run at once on Django's immediate backend (tests/django/conftest.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from tests.django.conftest import TASKS_MODULE
from tests.django.engine_support import STEPS_GRAPH, STEPS_TOOL, InThread, wait_for
from tests.django.services.conftest import GRAPHS, TOOLS
from yamlgraph_django.exceptions import InvalidInput, SessionBusy
from yamlgraph_django.models import (
    Run,
    RunControl,
    RunKind,
    RunStatus,
    Session,
    SessionEvent,
    SessionStatus,
)
from yamlgraph_django.services import (
    CRASH_ERROR,
    Sweeper,
    cancel_session,
    delete_session,
    get_history,
    get_state,
    prune_expired,
    recover_stale_sessions,
    resume_session,
    start_session,
    thread_runs,
    worker_command,
)
from yamlgraph_django.services.engine import STOPPED_ERROR
from yamlgraph_django.services.run_events import read_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def graphs(register_graphs: Any) -> dict[str, Any]:
    """The service suite's graphs (flaky, slow, checked, ...) plus `steps`."""
    return register_graphs(TOOLS + STEPS_TOOL, {**GRAPHS, **STEPS_GRAPH})


def events_of(session: Session) -> list[tuple[str, Any]]:
    return [(e.event, e.data) for e in read_events(session.pk)]


def runs_of(session: Session) -> list[tuple[str, str]]:
    return list(session.runs.order_by("id").values_list("kind", "status"))


def start_in_thread(graph: str = "steps") -> tuple[InThread, Session]:
    """Start `graph` on another thread and return once its run has finished one step."""
    call = InThread(start_session, graph)
    session = wait_for(
        lambda: Session.objects.filter(status=SessionStatus.RUNNING).first(),
        what="the session to be running",
    )
    wait_for(
        lambda: any(e.event == "updates" and "one" in e.data for e in read_events(session.pk)),
        what="the first step in the event log",
    )
    return call, session


def checkpointed_nodes(session: Session) -> set[str]:
    return {node for entry in get_history(session, limit=50) for node in entry["nodes"]}


# --------------------------------------------------------------------------- what a run publishes


def test_a_run_publishes_metadata_its_parts_and_an_end_with_the_rows_status(graphs):
    session = start_session("interview", {"topic": "logs"})
    run = session.runs.get()
    events = events_of(session)

    assert events[0] == ("metadata", {"run_id": run.pk, "session_id": str(session.pk)})
    assert events[-1] == ("end", {"run_id": run.pk, "status": "interrupted"})
    assert session.status == SessionStatus.INTERRUPTED
    kinds = [event for event, _data in events]
    assert {"values", "updates"} <= set(kinds)
    assert kinds.count("end") == 1 and "error" not in kinds
    values = [data for event, data in events if event == "values"]
    assert values[0]["topic"] == "logs"
    asked = [data["__interrupt__"] for event, data in events if "__interrupt__" in data]
    [interrupt] = asked[-1]
    assert (interrupt["id"], interrupt["value"]) == (
        session.interrupts[0]["id"],
        "Hi! What is your name?",
    )
    assert interrupt["config"]["allow_respond"]  # agent-inbox's card (test_agent_inbox)
    assert not any(key.startswith("_") and key != "__interrupt__" for v in values for key in v)

    resume_session(session, "Ada")
    second = session.runs.order_by("id").last()
    after = events_of(session)[len(events) :]  # the resume appended; nothing before changed
    assert after[0] == ("metadata", {"run_id": second.pk, "session_id": str(session.pk)})
    assert after[-1] == ("end", {"run_id": second.pk, "status": "interrupted"})
    assert any(event == "updates" and "ask_name" in data for event, data in after)


def test_a_graph_error_publishes_error_then_end_failed(graphs, fail_flag):
    fail_flag.touch()
    session = start_session("flaky")

    assert session.status == SessionStatus.FAILED
    (error, end) = events_of(session)[-2:]
    assert error == ("error", {"error": "RuntimeError", "message": "the service is down"})
    assert end == ("end", {"run_id": session.runs.get().pk, "status": "failed"})


@pytest.mark.django_db(transaction=True)
def test_a_run_shorter_than_the_flush_interval_writes_its_events_once(graphs, yamlgraph_settings):
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "EVENTS_FLUSH_SECONDS": 2}):
        session = start_session("interview")
        resume_session(session, "Ada")

    assert SessionEvent.objects.filter(session_id=session.pk).count() == 2  # one per run
    assert len(read_events(session.pk)) > 6


@pytest.mark.django_db(transaction=True)
def test_a_slow_runs_first_step_is_readable_while_it_runs(graphs):
    call, session = start_in_thread()  # returns once step `one` is in the log

    seen = [event for event, _data in events_of(session)]
    assert "end" not in seen
    assert Session.objects.get(pk=session.pk).status == SessionStatus.RUNNING
    call.result()
    assert SessionEvent.objects.filter(session_id=session.pk).count() > 1  # written live
    assert events_of(session)[-1][0] == "end"


# --------------------------------------------------------------------------- a second run


@pytest.mark.django_db(transaction=True)
def test_reject_refuses_a_resume_while_a_run_holds_the_session(graphs):
    call, session = start_in_thread()

    with pytest.raises(SessionBusy):
        resume_session(session, "too early")
    with pytest.raises(InvalidInput) as refused:
        resume_session(session, "x", multitask_strategy="later")
    assert "multitask_strategy" in refused.value.errors

    call.result()
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert runs_of(session) == [(RunKind.START, RunStatus.SUCCEEDED)]


@pytest.mark.django_db(transaction=True)
def test_enqueue_runs_the_answer_after_the_current_run(graphs):
    call, session = start_in_thread()

    with transaction.atomic():  # the answer is queued at commit: see it before that
        queued = resume_session(session, "queued answer", multitask_strategy="enqueue")
        assert queued.queued_run.status == RunStatus.QUEUED
        assert runs_of(session) == [
            (RunKind.START, RunStatus.RUNNING),
            (RunKind.RESUME, RunStatus.QUEUED),
        ]
    # The immediate backend ran the queued answer at commit, once the first run ended.
    call.result()
    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED
    assert (session.output["steps"], session.output["answer"]) == (4, "queued answer")
    assert runs_of(session) == [
        (RunKind.START, RunStatus.SUCCEEDED),
        (RunKind.RESUME, RunStatus.SUCCEEDED),
    ]
    start, answer = session.runs.order_by("id")
    assert answer.value == "queued answer"
    ends = [data for event, data in events_of(session) if event == "end"]
    assert ends == [
        {"run_id": start.pk, "status": "interrupted"},
        {"run_id": answer.pk, "status": "completed"},
    ]


@pytest.mark.django_db(transaction=True)
def test_interrupt_stops_the_running_run_at_its_next_step_then_runs(graphs):
    call, session = start_in_thread()

    resumed = resume_session(session, multitask_strategy="interrupt")

    assert call.result().status == SessionStatus.FAILED  # the stopped run's view
    assert call.value.error == STOPPED_ERROR
    stopped, new = resumed.runs.order_by("id")
    assert (stopped.kind, stopped.status) == (RunKind.START, RunStatus.CANCELLED)
    assert stopped.error == "stopped at a step boundary for another run"
    assert stopped.control == RunControl.INTERRUPT
    assert (new.kind, new.status) == (RunKind.RESUME, RunStatus.SUCCEEDED)
    # The new run went on from the stopped run's last checkpoint: four steps in all.
    assert resumed.status == SessionStatus.INTERRUPTED
    assert get_state(resumed)["values"]["steps"] == 4
    assert checkpointed_nodes(resumed) >= {"one", "two", "three", "four"}
    stopped_events = [e for e in read_events(session.pk) if e.run_id == stopped.pk]
    steps_run = {node for e in stopped_events if e.event == "updates" for node in e.data}
    assert "one" in steps_run and "four" not in steps_run
    assert stopped_events[-1].data == {"run_id": stopped.pk, "status": "failed"}


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_session_at_its_next_step(graphs):
    call, session = start_in_thread()

    cancelled = cancel_session(session, channel="api")

    assert cancelled.status == SessionStatus.CANCELLED
    call.result()
    (start, cancel) = cancelled.runs.order_by("id")
    assert (start.kind, start.status, start.error) == (
        RunKind.START,
        RunStatus.CANCELLED,
        "cancelled while it ran",
    )
    assert start.control == RunControl.CANCEL
    assert (cancel.kind, cancel.status, cancel.channel) == (
        RunKind.CANCEL,
        RunStatus.SUCCEEDED,
        "api",
    )
    state = get_state(Session.objects.get(pk=session.pk))
    assert 1 <= state["values"]["steps"] < 4 and state["next"]  # its checkpoints stay
    assert "one" in checkpointed_nodes(cancelled)
    assert events_of(session)[-1] == ("end", {"run_id": start.pk, "status": "cancelled"})


@pytest.mark.django_db(transaction=True)
def test_a_cancel_of_the_run_alone_leaves_the_session_resumable_whichever_door_started_it(
    graphs,
):
    """The protocol's run cancel (`thread_runs.cancel_run`) of a run the Python API
    started: the same run loop ends that run `cancelled` and keeps the session's
    checkpoints (was: the API's loop cancelled the whole session for good); a retry
    then runs on from where the run stopped."""
    call, session = start_in_thread()
    run = session.runs.get()

    thread_runs.cancel_run(session, run)

    stopped = call.result()
    run.refresh_from_db()
    assert (run.status, run.error, run.control) == (
        RunStatus.CANCELLED,
        "cancelled while it ran",
        RunControl.CANCEL_RUN,
    )
    assert stopped.status == SessionStatus.FAILED
    assert stopped.error == "the run was cancelled before the end; run again to continue"
    steps_then = get_state(stopped)["values"]["steps"]
    assert 1 <= steps_then < 4

    retried = resume_session(stopped)

    assert retried.status != SessionStatus.FAILED, retried.error
    assert get_state(retried)["values"]["steps"] == 4
    assert events_of(session)[-1][1]["status"] == str(retried.status)


# --------------------------------------------------------------------------- trimming the log


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def events_backend(
    request: pytest.FixtureRequest, graphs: Any, yamlgraph_settings: Any
) -> Iterator:
    """Runs publish to the database table, or to the Valkey server (EVENTS_URL)."""
    url = request.getfixturevalue("redis_clean_url") if request.param == "redis" else None
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "EVENTS_URL": url}):
        yield


def test_deleting_a_session_trims_its_log(events_backend):
    gone, kept = start_session("interview"), start_session("interview")
    assert read_events(gone.pk) and read_events(kept.pk)

    delete_session(gone)

    assert read_events(gone.pk) == []
    assert [e.event for e in read_events(kept.pk)][-1] == "end"


def test_pruning_sessions_trims_their_logs(events_backend):
    expired, fresh = start_session("interview"), start_session("interview")
    Session.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))

    assert prune_expired() == 1

    assert read_events(expired.pk) == []
    assert [e.event for e in read_events(fresh.pk)][-1] == "end"


# --------------------------------------------------------------------------- crash recovery


def crash(session: Session) -> None:
    """Leave `session` as a killed worker would: running under a lease that expired, its
    run still `running`."""
    Session.objects.filter(pk=session.pk).update(
        status=SessionStatus.RUNNING,
        lease_expires_at=timezone.now() - dt.timedelta(minutes=1),
        error="",
        interrupts=[],
    )
    if not session.runs.filter(status__in=(RunStatus.RUNNING, RunStatus.QUEUED)).exists():
        Run.objects.create(session=session, kind=RunKind.RESUME, channel="api")
    session.runs.filter(status=RunStatus.QUEUED).update(status=RunStatus.RUNNING)


def crashed_mid_graph(fail_flag: Any) -> Session:
    """A session whose last checkpoint has `work` still to run, then its worker died."""
    fail_flag.touch()
    session = start_session("flaky")
    fail_flag.unlink()
    crash(session)
    return session


def test_the_sweeper_reruns_a_crashed_session_from_its_checkpoint(
    graphs, fail_flag, django_capture_on_commit_callbacks
):
    session = crashed_mid_graph(fail_flag)

    with django_capture_on_commit_callbacks(execute=True):
        recovered = recover_stale_sessions(rerun=True)

    assert [s.pk for s in recovered] == [session.pk]
    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED
    assert session.output == {"result": "done"}
    start, crashed, recover = session.runs.order_by("id")
    assert (start.kind, start.status) == (RunKind.START, RunStatus.FAILED)  # the flaky error
    assert (crashed.status, crashed.error) == (
        RunStatus.FAILED,
        "the process running it stopped before it finished (lease expired)",
    )
    assert (recover.kind, recover.status, recover.value) == (
        RunKind.RECOVER,
        RunStatus.SUCCEEDED,
        {"status": "rerun"},
    )
    assert events_of(session)[-1] == ("end", {"run_id": recover.pk, "status": "completed"})


def test_a_second_crash_is_left_failed_and_resumable(
    graphs, fail_flag, django_capture_on_commit_callbacks
):
    session = crashed_mid_graph(fail_flag)
    with django_capture_on_commit_callbacks(execute=False):  # its worker dies before running it
        recover_stale_sessions(rerun=True)
    session.refresh_from_db()
    assert session.status == SessionStatus.PENDING
    crash(session)  # the re-run itself crashed

    with django_capture_on_commit_callbacks(execute=True):  # the failed signal only
        recover_stale_sessions(rerun=True)

    session.refresh_from_db()
    assert not session.runs.filter(status=RunStatus.QUEUED).exists()  # nothing queued again
    assert (session.status, session.error) == (SessionStatus.FAILED, CRASH_ERROR)
    recoveries = list(session.runs.filter(kind=RunKind.RECOVER).order_by("id"))
    assert [(r.status, r.value) for r in recoveries] == [
        (RunStatus.FAILED, {"status": "rerun"}),
        (RunStatus.SUCCEEDED, {"status": "failed"}),
    ]
    resume_session(session)  # resumable: the retry runs the step that was left
    assert session.status == SessionStatus.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_a_sweeper_beside_a_worker_recovers_with_nobody_typing_a_command(graphs, fail_flag):
    session = crashed_mid_graph(fail_flag)
    sweeper = Sweeper(interval=0.1)
    sweeper.start()
    try:
        wait_for(
            lambda: Session.objects.get(pk=session.pk).status == SessionStatus.COMPLETED,
            what="the sweeper to re-run the session",
        )
    finally:
        sweeper.stop()
        sweeper.thread.join(5)
    recover = session.runs.get(kind=RunKind.RECOVER)
    assert (recover.status, recover.channel) == (RunStatus.SUCCEEDED, "task")


def test_the_worker_command_is_the_task_backends_own(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    assert worker_command() == ("db_worker", ["--queue-name", "*", "--no-reload"])

    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:1/0"}}  # never contacted
    assert worker_command() == (
        "rqworker",
        [
            "default",
            "--job-class",
            "django_tasks_rq.Job",
            "--worker-class",
            "rq.worker.SimpleWorker",
            "--with-scheduler",
        ],
    )

    settings.TASKS = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.dummy.DummyBackend"}}
    with pytest.raises(InvalidInput) as unknown:
        worker_command()
    assert "TASKS" in unknown.value.errors


@pytest.mark.django_db(transaction=True)
def test_a_cancel_and_an_interrupt_wait_on_either_log_for_the_run_to_stop(events_backend):
    """The request waits on the event log (XREAD BLOCK on Redis, a wake-up on the
    database log) until the running run logs its end: it answers with the session as
    the stop left it, whichever log the project uses."""
    call, session = start_in_thread()
    resumed = resume_session(session, multitask_strategy="interrupt")
    assert call.result().status == SessionStatus.FAILED and resumed.status == "interrupted"

    call, session = start_in_thread()
    cancelled = cancel_session(session, channel="api")
    assert cancelled.status == SessionStatus.CANCELLED
    assert call.result().status == SessionStatus.CANCELLED
