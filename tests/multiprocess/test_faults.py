"""Faults of real processes: an app server killed mid-run, a run longer than its lease.

Both run on the `wsgi` deployments (gunicorn with 4 workers, lease 3 s, SQLite and
Postgres). A run happens in the request (sync mode), so the gunicorn worker serving the
request is the process that holds the session; the test graph's held step
(tests/multiprocess/graphs/tools/hold.py) writes that worker's pid, which is what the
test kills. Recovery is `manage.py yamlgraph recover`, as an operator (or cron) runs it
today; tests/multiprocess/test_engine.py checks that a worker's sweeper does it alone.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import httpx

from tests.multiprocess.conftest import LEASE_SECONDS, Wsgi
from tests.multiprocess.harness import wait_until


def start_in_a_thread(
    wsgi: Wsgi, graph: str, input: dict[str, Any], thread_id: str
) -> tuple[threading.Thread, list[Any]]:
    """POST a start that blocks while the graph runs; the list gets the response or error."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(wsgi.api().start(graph, input, thread_id=thread_id))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_an_app_server_killed_mid_run_leaves_a_resumable_session(wsgi: Wsgi) -> None:
    """kill -9 of the gunicorn worker running a session: after the lease, `recover`
    settles it as failed-and-resumable, its checkpoints kept; a retry continues from the
    last finished step (the first step does not run again) and the session completes."""
    deployment, api = wsgi.deployment, wsgi.api()
    tag = deployment.new_tag("kill")
    thread, outcome = start_in_a_thread(wsgi, "mp_steps", {"tag": tag, "second_seconds": 120}, tag)
    pid = wait_until(
        lambda: deployment.started_pid(tag, "second"),
        "the second step starting",
        processes=[wsgi.server],
    )
    assert pid != wsgi.server.pid, "the step runs in a gunicorn worker, not the master"
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert not isinstance(outcome[0], httpx.Response), outcome[0].text  # the client lost it
    session = deployment.session_id(tag)
    assert session is not None
    assert deployment.session_row(session)["status"] == "running"

    time.sleep(LEASE_SECONDS + 1)  # nobody renews the lease of a dead process
    output = deployment.manage("yamlgraph", "recover")
    assert f"session {session} -> failed" in output, output

    body = api.get(session).json()
    assert body["status"] == "failed", body
    assert "crash" in body["error"], body
    assert body["values"]["first"].startswith("first done"), body  # checkpoint kept
    assert body["next"] == ["second_step"], body
    runs = deployment.runs(session)
    assert [(r["kind"], r["status"]) for r in runs] == [
        ("start", "failed"),
        ("recover", "succeeded"),
    ], runs
    assert "lease expired" in runs[0]["error"], runs

    deployment.release(tag, "second")
    retried = api.resume(session, {})
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "interrupted", retried.json()
    assert deployment.signal_count(tag, "first") == 1  # not run again: it was checkpointed
    assert deployment.signal_count(tag, "second") == 2  # the killed attempt and the retry
    for answer in ("one", "two"):
        answered = api.resume(session, {"value": answer})
        assert answered.status_code == 200, answered.text
    final = api.get(session).json()
    assert final["status"] == "completed", final
    assert (final["values"]["answer_one"], final["values"]["answer_two"]) == ("one", "two")
    assert deployment.overlaps(tag) == ""


def test_a_run_three_leases_long_is_not_declared_dead(wsgi: Wsgi) -> None:
    """A run in a request that takes over three lease lengths: `recover`, run while it
    works, finds nothing stale (the heartbeat renews the lease); the run ends interrupted,
    and the stored question is the one the checkpoint waits at."""
    deployment, api = wsgi.deployment, wsgi.api()
    tag = deployment.new_tag("long")
    seconds = 4 * LEASE_SECONDS
    thread, outcome = start_in_a_thread(
        wsgi, "mp_steps", {"tag": tag, "first_seconds": seconds}, tag
    )
    wait_until(lambda: deployment.started_pid(tag, "first"), "the first step starting")
    began = time.monotonic()
    session = deployment.session_id(tag)
    assert session is not None

    checks_while_running = 0
    while thread.is_alive() and time.monotonic() - began < seconds - 1:
        if time.monotonic() - began < LEASE_SECONDS + 0.5:
            time.sleep(0.2)
            continue
        output = deployment.manage("yamlgraph", "recover")
        assert "Recovered 0 sessions." in output, output
        row = deployment.session_row(session)
        if time.monotonic() - began < seconds - 0.5:  # the step still works: it began first
            assert row["status"] == "running", row
            checks_while_running += 1
    assert checks_while_running, "recover never ran past the lease while the step worked"
    thread.join(timeout=60)
    (started,) = outcome
    assert isinstance(started, httpx.Response) and started.status_code == 201, started
    assert started.json()["status"] == "interrupted", started.json()

    body = api.get(session).json()
    assert body["status"] == "interrupted" and body["next"] == ["ask_one"], body
    (newest, *_) = api.history(session).json()
    assert [i["id"] for i in newest["interrupts"]] == [i["id"] for i in body["interrupts"]]
    row = deployment.session_row(session)
    assert [i["id"] for i in row["interrupts"]] == [i["id"] for i in body["interrupts"]], row
    assert row["lease_expires_at"] is None, row
    runs = deployment.runs(session)
    assert [(r["kind"], r["status"]) for r in runs] == [("start", "succeeded")], runs
    assert deployment.signal_count(tag, "first") == 1
