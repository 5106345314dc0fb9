"""Runs on real workers, watched live from any app server (issue 12).

The `engine` deployments: two uvicorn app servers (A and B) and one `manage.py yamlgraph
worker` on a fresh Postgres database, with Postgres checkpoints and the database event
log, and again with Redis checkpoints and Redis events; lease 3 s. Held steps of the
test graph (tests/multiprocess/graphs/tools/hold.py) keep a run going until the test
releases it, so a test can act while a worker runs a session.

Tests whose subject does not depend on the stores (leases, webhooks) run on the
Postgres deployment only, to keep the directory's runtime in budget.

Interface under test: POST /api/sessions/ `{"background": true}` answers 202 `pending`;
GET /api/sessions/{id}/stream/ is Server-Sent Events (`id:` lines; events `metadata`,
`values`, `updates`, `messages`, `custom`, `error`, `end` with `{"status": ...}`),
resumed by `Last-Event-ID` or `?after=`, narrowed by `?run=<run pk>`, closed after the
`end` of a run once the session is neither running nor pending; a resume's
`multitask_strategy` is `reject` (default, 409), `enqueue` (202) or `interrupt`; POST
.../cancel/ stops a running session at its next step.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import Any

import httpx
import pytest

from tests.multiprocess.conftest import LEASE_SECONDS, Engine
from tests.multiprocess.harness import Api, SseEvent, wait_until

#: What a session is while a run is queued or going.
ACTIVE = {"pending", "running"}


def start_background(api: Api, graph: str, input: dict[str, Any], **body: Any) -> str:
    """Start a queued session; assert the 202 `pending` answer; its id."""
    response = api.start(graph, input, background=True, **body)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending", response.json()
    return response.json()["id"]


def ends(events: list[SseEvent]) -> list[Any]:
    return [event.data.get("status") for event in events if event.event == "end"]


def keys(events: list[SseEvent]) -> list[tuple[str | None, str, str]]:
    """Events as comparable tuples (id, name, data as text)."""
    return [(event.id, event.event, repr(event.data)) for event in events]


def updated_nodes(events: list[SseEvent]) -> set[str]:
    """Nodes named by `updates` events (LangGraph's {node: writes})."""
    return {
        node
        for event in events
        if event.event == "updates" and isinstance(event.data, dict)
        for node in event.data
    }


def wait_step(engine: Engine, tag: str, step: str) -> int:
    """Wait until a held step of the session tagged `tag` runs; its process id."""
    return wait_until(
        lambda: engine.deployment.started_pid(tag, step),
        f"step {step} of {tag} starting",
        processes=[engine.worker, engine.server_a, engine.server_b],
    )


def test_started_on_a_run_by_the_worker_streamed_and_answered_on_b_read_on_a(
    engine: Engine,
) -> None:
    """The multi-server path end to end: A queues, the worker runs, B streams it and
    takes the answers, A reads the same final state; Run rows tell the same story."""
    session = start_background(engine.a, "interview", {"topic": "scale-out"})

    first = engine.b.read_stream(session)
    if not first:  # say what the log and the rows held, for whoever debugs it
        replay = engine.b.read_stream(session)
        raise AssertionError(
            f"the stream of a queued session ended without an event; a replay now gives "
            f"{[(e.event, e.data) for e in replay]}, the row {engine.deployment.session_row(session)}, "
            f"the runs {engine.deployment.runs(session)}"
        )
    names = [event.event for event in first]
    assert names[0] == "metadata", names
    assert {"values", "updates"} <= set(names), names
    assert ends(first) == ["interrupted"], names
    assert all(event.id for event in first), keys(first)
    assert len({event.id for event in first}) == len(first), keys(first)

    answered = engine.b.resume(session, {"value": "Ada"})  # in the request, on B
    assert answered.status_code == 200, answered.text
    assert answered.json()["interrupts"][0]["value"].startswith("Thanks Ada."), answered.json()
    queued = engine.b.resume(session, {"value": "ship it", "background": True})
    assert queued.status_code == 202, queued.text

    rest = engine.b.read_stream(session, last_event_id=first[-1].id)
    assert ends(rest) == ["interrupted", "completed"], keys(rest)
    assert "messages" in {event.event for event in rest}, keys(rest)  # the LLM node's tokens
    assert not {event.id for event in rest} & {event.id for event in first}

    on_a, on_b = engine.a.get(session).json(), engine.b.get(session).json()
    assert on_a["status"] == "completed", on_a
    assert on_a["values"] == on_b["values"]
    assert (on_a["values"]["name"], on_a["values"]["goal"]) == ("Ada", "ship it")
    assert on_a["values"]["summary"], on_a
    runs = engine.deployment.runs(session)
    assert [(r["kind"], r["status"]) for r in runs] == [
        ("start", "succeeded"),
        ("resume", "succeeded"),
        ("resume", "succeeded"),
    ], runs


def test_events_arrive_live_while_the_worker_runs(engine: Engine) -> None:
    """A client streaming from B sees the held step's `custom` event before the step is
    released, i.e. while the worker is still running it, then the rest up to `end`."""
    tag = engine.deployment.new_tag("live")
    session = start_background(engine.a, "mp_steps", {"tag": tag, "first_seconds": 120})
    seen: list[SseEvent] = []
    with engine.b.stream(session) as (response, events):
        assert response.status_code == 200
        for event in events:
            seen.append(event)
            if event.event == "custom" and event.data == {
                "step": "first",
                "tag": tag,
                "event": "started",
            }:  # the worker is inside the held step right now
                assert engine.deployment.signal_count(tag, "second") == 0
                engine.deployment.release(tag, "first")
    assert ends(seen) == ["interrupted"], keys(seen)
    customs = [e.data for e in seen if e.event == "custom"]
    assert [(c["step"], c["event"]) for c in customs] == [
        ("first", "started"),
        ("first", "finished"),
        ("second", "started"),
        ("second", "finished"),
    ], customs


def test_a_replay_from_any_event_id_loses_and_duplicates_nothing(engine: Engine) -> None:
    """A client that reconnects mid-run with Last-Event-ID (or ?after=) gets exactly the
    events it missed; `?run=` splits the log by run without losing any."""
    tag = engine.deployment.new_tag("replay")
    session = start_background(engine.a, "mp_steps", {"tag": tag, "first_seconds": 120})
    before: list[SseEvent] = []
    with engine.b.stream(session) as (response, events):  # disconnect mid-run
        assert response.status_code == 200
        for event in events:
            before.append(event)
            if event.event == "custom":
                break
    engine.deployment.release(tag, "first")
    after = engine.a.read_stream(session, last_event_id=before[-1].id)
    full = engine.b.read_stream(session)  # the finished run, replayed
    assert keys(before + after) == keys(full)

    engine.a.resume(session, {"value": "one"})  # a second run, in the request
    full = engine.a.read_stream(session)
    assert ends(full) == ["interrupted", "interrupted"], keys(full)
    for cut in range(0, len(full), max(1, len(full) // 6)):
        resumed = engine.b.read_stream(session, last_event_id=full[cut].id)
        assert keys(resumed) == keys(full[cut + 1 :]), f"Last-Event-ID {full[cut].id}"
    middle = full[len(full) // 2]
    assert keys(engine.b.read_stream(session, params={"after": middle.id})) == keys(
        full[len(full) // 2 + 1 :]
    )

    runs = engine.deployment.runs(session)
    by_run = [engine.b.read_stream(session, params={"run": run["id"]}) for run in runs]
    assert [ends(events) for events in by_run] == [["interrupted"], ["interrupted"]]
    assert keys([event for events in by_run for event in events]) == keys(full)


def test_a_failing_run_streams_its_error(engine: Engine) -> None:
    """A graph error on the worker reaches the watcher as `error`, then `end` failed."""
    tag = engine.deployment.new_tag("boom")
    session = start_background(engine.a, "mp_failing", {"tag": tag})
    events = engine.b.read_stream(session)
    names = [event.event for event in events]
    assert "error" in names and names.index("error") < len(names) - 1, keys(events)
    error = next(event for event in events if event.event == "error")
    assert "boom on purpose" in str(error.data), error
    assert ends(events) == ["failed"], keys(events)
    body = engine.a.get(session).json()
    assert body["status"] == "failed" and "boom on purpose" in body["error"], body


def test_a_killed_worker_is_recovered_by_another_worker_with_no_command(engine: Engine) -> None:
    """kill -9 of the worker mid-step: a second worker notices the expired lease by
    itself and re-runs the session from its last checkpoint (or marks it failed and
    resumable); the finished first step never runs again, no step runs twice at once,
    and the Run rows show the failed run and the recovery."""
    deployment = engine.deployment
    tag = engine.deployment.new_tag("workerkill")
    session = start_background(engine.a, "mp_steps", {"tag": tag, "second_seconds": 120})
    wait_step(engine, tag, "second")
    engine.worker.kill_group(signal.SIGKILL)
    wait_until(lambda: not engine.worker.alive(), "the worker dying", timeout=10)
    deployment.release(tag, "second")  # a re-run goes straight through
    engine.ensure_worker()  # the second worker; nobody types a command

    body = engine.a.wait_status(
        session,
        {"interrupted", "failed"},
        timeout=LEASE_SECONDS + 60,
        processes=[engine.worker],
    )
    if body["status"] == "failed":  # failed-and-resumable: the user retries
        assert engine.a.resume(session, {}).status_code == 200
        body = engine.a.get(session).json()
    assert body["status"] == "interrupted" and body["next"] == ["ask_one"], body
    assert deployment.signal_count(tag, "first") == 1
    assert deployment.signal_count(tag, "second") == 2
    assert deployment.overlaps(tag) == ""
    runs = deployment.runs(session)
    assert runs[0]["kind"] == "start" and runs[0]["status"] == "failed", runs
    assert "recover" in [run["kind"] for run in runs], runs
    assert runs[-1]["status"] == "succeeded", runs


# Leases live in the metadata database: the Redis stores change nothing here.
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_a_killed_app_server_is_recovered_by_the_worker_with_no_command(engine: Engine) -> None:
    """kill -9 of app server A while it runs a session in a request: the worker's
    sweeper settles the session once the lease passes; it stays resumable."""
    deployment = engine.deployment
    tag = engine.deployment.new_tag("serverkill")
    thread = threading.Thread(
        target=start_quietly,
        args=(engine.a, "mp_steps", {"tag": tag, "second_seconds": 120}, tag),
    )
    thread.start()
    wait_step(engine, tag, "second")
    engine.server_a.kill_group(signal.SIGKILL)
    thread.join(timeout=30)
    deployment.release(tag, "second")
    session = deployment.session_id(tag)
    assert session is not None
    try:
        body = engine.b.wait_status(
            session,
            {"interrupted", "failed"},
            timeout=LEASE_SECONDS + 60,
            processes=[engine.worker],
        )
        if body["status"] == "failed":
            assert engine.b.resume(session, {}).status_code == 200
            body = engine.b.get(session).json()
        assert body["status"] == "interrupted", body
        assert deployment.signal_count(tag, "first") == 1
        assert deployment.overlaps(tag) == ""
        runs = deployment.runs(session)
        assert runs[0]["status"] == "failed" and "recover" in [r["kind"] for r in runs], runs
    finally:
        engine.restart_server_a()


def start_quietly(api: Api, graph: str, input: dict[str, Any], thread_id: str) -> None:
    """A start whose server is killed under it: the connection error is expected."""
    with contextlib.suppress(httpx.HTTPError):
        api.start(graph, input, thread_id=thread_id)


# Leases live in the metadata database: the Redis stores change nothing here.
@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_the_heartbeat_keeps_a_run_three_leases_long_alive_on_a_worker(engine: Engine) -> None:
    """A worker's run that takes three lease lengths, with the sweeper running, is never
    presumed dead: the session stays running until it reaches its question."""
    deployment = engine.deployment
    tag = engine.deployment.new_tag("heartbeat")
    session = start_background(
        engine.a, "mp_steps", {"tag": tag, "first_seconds": 3 * LEASE_SECONDS + 1}
    )
    wait_step(engine, tag, "first")
    statuses = set()
    deadline = time.monotonic() + 3 * LEASE_SECONDS + 60
    while time.monotonic() < deadline:
        engine.worker.check_alive()
        status = deployment.session_row(session)["status"]
        statuses.add(status)
        if status not in ACTIVE:
            break
        time.sleep(0.3)
    assert statuses == {"running", "interrupted"}, statuses
    runs = deployment.runs(session)
    assert [(r["kind"], r["status"]) for r in runs] == [("start", "succeeded")], runs
    assert deployment.signal_count(tag, "first") == 1


def test_reject_refuses_a_second_run_while_one_runs(engine: Engine) -> None:
    """The default strategy and an explicit `reject` answer 409 `session_busy`; the
    running run carries on as if nothing happened and no Run row is added."""
    deployment = engine.deployment
    tag = engine.deployment.new_tag("reject")
    session = start_background(engine.a, "mp_steps", {"tag": tag, "first_seconds": 120})
    wait_step(engine, tag, "first")
    for body in ({"value": "x"}, {"value": "x", "multitask_strategy": "reject"}):
        refused = engine.b.resume(session, body)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "session_busy", refused.json()
    deployment.release(tag, "first")
    body = engine.a.wait_status(session, {"interrupted"}, processes=[engine.worker])
    assert body["next"] == ["ask_one"] and "answer_one" not in body["values"], body
    runs = deployment.runs(session)
    assert [(r["kind"], r["status"]) for r in runs] == [("start", "succeeded")], runs


def test_enqueue_runs_queued_answers_after_the_running_run_in_order(engine: Engine) -> None:
    """Two answers enqueued while the first run works: 202 each; they answer the two
    questions in the order sent, each run starting after the one before it ended."""
    deployment = engine.deployment
    tag = engine.deployment.new_tag("enqueue")
    session = start_background(engine.a, "mp_steps", {"tag": tag, "first_seconds": 120})
    wait_step(engine, tag, "first")
    for answer, api in (("A", engine.a), ("B", engine.b)):
        queued = api.resume(session, {"value": answer, "multitask_strategy": "enqueue"})
        assert queued.status_code == 202, queued.text
    deployment.release(tag, "first")
    body = engine.a.wait_status(session, {"completed", "failed"}, processes=[engine.worker])
    assert body["status"] == "completed", body
    assert (body["values"]["answer_one"], body["values"]["answer_two"]) == ("A", "B"), body
    runs = deployment.runs(session)
    assert [(r["kind"], r["status"], r["value"]) for r in runs[1:]] == [
        ("resume", "succeeded", "A"),
        ("resume", "succeeded", "B"),
    ], runs
    assert (runs[0]["kind"], runs[0]["status"]) == ("start", "succeeded"), runs
    finished = [run["finished_at"] for run in runs]
    assert finished == sorted(finished) and len(set(finished)) == 3, runs
    events = engine.b.read_stream(session)
    assert ends(events) == ["interrupted", "interrupted", "completed"], keys(events)


def test_interrupt_stops_the_running_run_at_its_next_step_and_runs_the_new_one(
    engine: Engine,
) -> None:
    """`interrupt`: the request asks the running run to stop and waits for it; the run
    stops after the step it is in (its checkpoint kept, the next step not run by it),
    then the new run continues from there on the worker."""
    deployment = engine.deployment
    tag = engine.deployment.new_tag("interrupt")
    session = start_background(engine.a, "mp_steps", {"tag": tag, "first_seconds": 120})
    wait_step(engine, tag, "first")
    answered: list[Any] = []
    request = threading.Thread(
        target=lambda: answered.append(
            engine.b.resume(session, {"multitask_strategy": "interrupt", "background": True})
        )
    )
    request.start()
    wait_until(
        lambda: deployment.runs(session)[0]["control"] == "interrupt",
        "the running run asked to stop",
        timeout=30,
    )
    deployment.release(tag, "first")
    request.join(timeout=60)
    (response,) = answered
    assert response.status_code == 202, (
        f"{response.status_code} {response.text}; the run asked to stop went on to "
        f"{deployment.session_row(session)['status']} (second step ran "
        f"{deployment.signal_count(tag, 'second')} time(s)); runs: {deployment.runs(session)}"
    )
    body = engine.a.wait_status(session, {"interrupted", "failed"}, processes=[engine.worker])
    assert body["status"] == "interrupted" and body["next"] == ["ask_one"], body
    assert deployment.signal_count(tag, "first") == 1  # kept, not redone
    assert deployment.signal_count(tag, "second") == 1
    runs = deployment.runs(session)
    assert [r["kind"] for r in runs] == ["start", "resume"], runs
    assert runs[0]["status"] == "cancelled" and "stopped" in runs[0]["error"], runs
    assert runs[0]["finished_at"] and runs[1]["status"] == "succeeded", runs
    stopped = engine.b.read_stream(session, params={"run": runs[0]["id"]})
    new = engine.b.read_stream(session, params={"run": runs[1]["id"]})
    assert "first_step" in updated_nodes(stopped) and "second_step" not in updated_nodes(stopped)
    assert "second_step" in updated_nodes(new), keys(new)


def test_cancel_stops_a_running_session_at_its_next_step(engine: Engine) -> None:
    """Cancel while a worker runs the session: it stops after the current step, ends
    `cancelled` with its checkpoints kept, and can no longer be answered."""
    deployment = engine.deployment
    tag = engine.deployment.new_tag("cancel")
    session = start_background(engine.a, "mp_steps", {"tag": tag, "first_seconds": 120})
    wait_step(engine, tag, "first")
    cancelled = engine.b.cancel(session)  # the stop lands at the step's end: 202
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "running", cancelled.text
    deployment.release(tag, "first")
    body = engine.a.wait_status(session, {"cancelled"}, processes=[engine.worker])
    assert body["values"]["first"].startswith("first done"), body  # its checkpoint
    time.sleep(1)  # a run that did not stop would start the second step now
    assert deployment.signal_count(tag, "second") == 0
    runs = deployment.runs(session)
    assert runs[0]["kind"] == "start" and runs[0]["status"] == "cancelled", runs
    assert "cancelled" in runs[0]["error"], runs
    assert "cancel" in [run["kind"] for run in runs], runs
    refused = engine.a.resume(session, {"value": "late"})
    assert refused.status_code == 409 and refused.json()["code"] == "session_not_resumable"
    assert ends(engine.b.read_stream(session))[-1] == "cancelled"
