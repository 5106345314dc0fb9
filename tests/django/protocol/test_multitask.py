"""Stopping a running run: `multitask_strategy: "interrupt"` and `runs.cancel` stop it
at its next step (checkpoints kept), across requests, seen through the SDK."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

SLOW_TOOL = '''
import time


def slow_step(state):
    """A step that takes a while, like an LLM call."""
    time.sleep(0.4)
    return {"steps": (state.get("steps") or 0) + 1}
'''

SLOW_GRAPH = """
    version: "1.0"
    name: slow_steps
    state:
      steps: int
    tools:
      slow_step: {path: tools/checks.py, function: slow_step}
    nodes:
      one: {type: python, tool: slow_step}
      two: {type: python, tool: slow_step}
      three: {type: python, tool: slow_step}
      four: {type: python, tool: slow_step}
    edges:
      - {from: START, to: one}
      - {from: one, to: two}
      - {from: two, to: three}
      - {from: three, to: four}
      - {from: four, to: END}
"""


@pytest.fixture
def slow(graphs: Any, register_graphs: Any) -> None:
    register_graphs(SLOW_TOOL, {"slow_steps.yaml": SLOW_GRAPH})


def stream_in_background(client: Any, thread_id: str) -> tuple[threading.Thread, list[Any]]:
    parts: list[Any] = []

    def consume() -> None:
        parts.extend(client.runs.stream(thread_id, "slow_steps", input={}, stream_mode="updates"))

    worker = threading.Thread(target=consume)
    worker.start()
    return worker, parts


def wait_until_running(client: Any, thread_id: str) -> str:
    for _ in range(100):
        runs = client.runs.list(thread_id)
        if runs and runs[0]["status"] == "running":
            return runs[0]["run_id"]
        time.sleep(0.05)
    raise AssertionError("the run never started")


def test_interrupt_strategy_stops_the_running_run_then_runs(
    slow: None, alice: Any, sync_client_for: Any
) -> None:
    first, second = sync_client_for(alice), sync_client_for(alice)
    thread_id = first.threads.create()["thread_id"]
    worker, parts = stream_in_background(first, thread_id)
    stopped = wait_until_running(second, thread_id)

    result = second.runs.wait(thread_id, "slow_steps", input={}, multitask_strategy="interrupt")
    worker.join(timeout=30)
    assert second.runs.get(thread_id, stopped)["status"] == "interrupted"
    assert len([p for p in parts if p.event == "updates"]) < 4  # stopped between steps
    # The first run's finished steps stayed in the state; the new run added all four.
    assert 5 <= result["steps"] <= 7


def test_cancel_stops_a_running_run_and_keeps_its_checkpoints(
    slow: None, alice: Any, sync_client_for: Any
) -> None:
    first, second = sync_client_for(alice), sync_client_for(alice)
    thread_id = first.threads.create()["thread_id"]
    worker, _parts = stream_in_background(first, thread_id)
    run_id = wait_until_running(second, thread_id)
    time.sleep(0.5)
    second.runs.cancel(thread_id, run_id, wait=True)
    worker.join(timeout=30)
    assert second.runs.get(thread_id, run_id)["status"] == "interrupted"
    state = second.threads.get_state(thread_id)
    assert 1 <= state["values"]["steps"] < 4 and state["next"]
    # The thread goes on from where it stopped.
    finished = second.runs.wait(thread_id, "slow_steps", input=None)
    assert finished["steps"] == 4


def test_a_client_that_goes_away_cancels_its_run(
    slow: None, alice: Any, sync_client_for: Any
) -> None:
    client = sync_client_for(alice)
    thread_id = client.threads.create()["thread_id"]
    for part in client.runs.stream(thread_id, "slow_steps", input={}, stream_mode="updates"):
        run_id = part.data["run_id"]
        break  # on_disconnect defaults to "cancel"
    for _ in range(100):
        run = client.runs.get(thread_id, run_id)
        if run["status"] != "running":
            break
        time.sleep(0.1)
    assert run["status"] == "interrupted"
    assert client.threads.get_state(thread_id)["values"].get("steps", 0) < 4


def test_enqueue_queues_the_run_behind_the_running_one_without_waiting(
    slow: None, alice: Any, sync_client_for: Any
) -> None:
    first, second = sync_client_for(alice), sync_client_for(alice)
    thread_id = first.threads.create()["thread_id"]
    worker, _parts = stream_in_background(first, thread_id)
    running = wait_until_running(second, thread_id)

    started = time.monotonic()
    queued = second.runs.create(thread_id, "slow_steps", input={}, multitask_strategy="enqueue")
    also = second.runs.create(thread_id, "slow_steps", input={}, multitask_strategy="enqueue")
    assert time.monotonic() - started < 1.0  # queued, not waited for in the request
    assert (queued["status"], also["status"]) == ("pending", "pending")
    assert queued["multitask_strategy"] == "enqueue"

    worker.join(timeout=30)
    result = second.runs.join(thread_id, also["run_id"])
    # Each run added four steps, one after the other, in the order they were queued.
    assert result["steps"] == 12
    runs = {run["run_id"]: run for run in second.runs.list(thread_id)}
    assert {runs[r]["status"] for r in (running, queued["run_id"], also["run_id"])} == {"success"}


def test_runs_wait_with_enqueue_on_a_busy_thread_answers_with_the_queued_runs_result(
    slow: None, alice: Any, sync_client_for: Any
) -> None:
    first, second = sync_client_for(alice), sync_client_for(alice)
    thread_id = first.threads.create()["thread_id"]
    worker, _parts = stream_in_background(first, thread_id)
    wait_until_running(second, thread_id)

    result = second.runs.wait(thread_id, "slow_steps", input={}, multitask_strategy="enqueue")
    worker.join(timeout=30)
    assert result["steps"] == 8


def test_run_start_on_a_busy_thread_queues_the_run_without_waiting(
    slow: None, alice: Any, sync_client_for: Any
) -> None:
    """The thread-scoped protocol's `run.start` (default strategy `enqueue`) queues the
    run behind the running one and answers at once, as `runs.create` does."""
    first, second = sync_client_for(alice), sync_client_for(alice)
    thread_id = first.threads.create()["thread_id"]
    worker, _parts = stream_in_background(first, thread_id)
    running = wait_until_running(second, thread_id)

    started = time.monotonic()
    answer = second.http.post(
        f"/threads/{thread_id}/commands",
        json={
            "id": 1,
            "method": "run.start",
            "params": {"assistant_id": "slow_steps", "input": {}},
        },
    )
    assert time.monotonic() - started < 1.0  # queued, not waited for in the request
    queued = answer["result"]["run_id"]
    assert queued != running

    worker.join(timeout=30)
    result = second.runs.join(thread_id, queued)
    assert result["steps"] == 8  # four steps of each run, one after the other
    assert {run["status"] for run in second.runs.list(thread_id)} == {"success"}
