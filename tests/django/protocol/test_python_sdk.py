"""LangGraph's Python SDK (sync client) drives the interview graph against the live app.

Every call goes through `langgraph_sdk`, exactly as a LangGraph user's script would; the
rows and checkpoints behind the answers are checked through the models.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from django.test import override_settings
from langgraph_sdk.errors import ConflictError, NotFoundError

from yamlgraph_django.models import Run, RunChannel, Session, SessionStatus
from yamlgraph_django.services import engine

INTERVIEW_ID = "3ec19632-a031-5f97-93d7-6c4b601fcf95"  # uuid5 of "interview", as langgraph-api
NAME_QUESTION = "Hi! What is your name?"
GOAL_QUESTION = "Thanks Ada. What do you want to achieve with Django?"
GOAL_PROJECT = "Thanks Ada. What do you want to achieve with your project?"


def summary_of(values: dict[str, Any]) -> str:
    return values["summary"]


def test_assistants_are_the_registered_graphs_with_langgraph_api_ids(sdk: Any) -> None:
    found = sdk.assistants.search(graph_id="interview")
    assert [a["assistant_id"] for a in found] == [INTERVIEW_ID]
    assert found[0]["graph_id"] == "interview" and found[0]["metadata"] == {"created_by": "system"}
    assert sdk.assistants.get(INTERVIEW_ID)["graph_id"] == "interview"
    assert sdk.assistants.get("interview")["assistant_id"] == INTERVIEW_ID
    everything = {a["graph_id"] for a in sdk.assistants.search(limit=100)}
    assert {"interview", "approval", "pair"} <= everything

    drawing = sdk.assistants.get_graph("interview")
    node_ids = {node["id"] for node in drawing["nodes"]}
    assert {"ask_name", "ask_goal", "summarize", "__start__", "__end__"} <= node_ids
    assert {"source": "summarize", "target": "__end__"} in [
        {k: e[k] for k in ("source", "target")} for e in drawing["edges"]
    ]

    schemas = sdk.assistants.get_schemas(INTERVIEW_ID)
    state = schemas["state_schema"]
    assert state["type"] == "object"
    assert state["properties"]["topic"] == {
        "type": "string",
        "title": "Topic",
        "default": "your project",
    }
    assert state["properties"]["summary"]["type"] == "string"


def test_interview_with_wait_resume_by_value_and_by_interrupt_id(sdk: Any) -> None:
    thread = sdk.threads.create(metadata={"user": "ada"})
    assert thread["status"] == "idle" and thread["values"] is None
    thread_id = thread["thread_id"]

    first = sdk.runs.wait(thread_id, "interview", input={"topic": "Django"})
    [interrupt] = first["__interrupt__"]
    assert interrupt["value"] == NAME_QUESTION and len(interrupt["id"]) == 32

    shown = sdk.threads.get(thread_id)
    assert shown["status"] == "interrupted"
    assert shown["metadata"] == {
        "user": "ada",
        "graph_id": "interview",
        "assistant_id": INTERVIEW_ID,
    }
    state = sdk.threads.get_state(thread_id)
    assert state["next"] == ["ask_name"]
    # with agent-inbox's card next to the value (see test_agent_inbox)
    assert state["tasks"][-1]["interrupts"] == [interrupt] == state["interrupts"]
    assert interrupt["description"] == NAME_QUESTION
    assert state["checkpoint"]["thread_id"] == thread_id
    assert state["parent_checkpoint"]["checkpoint_id"] == state["parent_checkpoint_id"]

    second = sdk.runs.wait(thread_id, "interview", command={"resume": "Ada"})
    [goal] = second["__interrupt__"]
    assert goal["value"] == GOAL_QUESTION and second["name"] == "Ada"

    done = sdk.runs.wait(thread_id, INTERVIEW_ID, command={"resume": {goal["id"]: "ship it"}})
    assert "__interrupt__" not in done
    assert summary_of(done) == "Summary: Ada wants to ship it."
    assert sdk.threads.get(thread_id)["status"] == "idle"

    # The same session the admin and the DRF API show, recorded as a LangGraph run.
    session = Session.objects.get(thread_id=thread_id)
    assert session.status == SessionStatus.COMPLETED
    assert session.output["summary"] == "Summary: Ada wants to ship it."
    runs = list(session.runs.order_by("pk").values_list("kind", "channel", "value"))
    assert runs == [
        ("start", RunChannel.LANGGRAPH, {"topic": "Django"}),
        ("resume", RunChannel.LANGGRAPH, "Ada"),
        ("resume", RunChannel.LANGGRAPH, {goal["id"]: "ship it"}),
    ]
    listed = sdk.runs.list(thread_id)
    assert [r["status"] for r in listed] == ["success"] * 3
    assert sdk.runs.get(thread_id, listed[0]["run_id"])["thread_id"] == thread_id


def test_stream_sends_metadata_values_updates_and_token_chunks(sdk: Any) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    created: list[Any] = []
    parts = list(
        sdk.runs.stream(
            thread_id,
            "interview",
            input={"topic": "Django"},
            stream_mode=["values", "updates", "messages-tuple", "events", "custom"],
            on_run_created=created.append,
        )
    )
    assert parts[0].event == "metadata" and parts[0].data["run_id"] == created[0]["run_id"]
    values = [p.data for p in parts if p.event == "values"]
    assert values[-1]["__interrupt__"][0]["value"] == NAME_QUESTION
    updates = [p.data for p in parts if p.event == "updates"]
    assert {"__interrupt__"} <= set(updates[-1])
    assert "custom" not in {p.event for p in parts}  # asked, nothing written: silent
    events = [p.data for p in parts if p.event == "events"]  # astream_events v2 shapes
    assert events[0]["event"] == "on_chain_start" and events[-1]["event"] == "on_chain_end"

    sdk.runs.wait(thread_id, "interview", command={"resume": "Ada"})
    parts = list(
        sdk.runs.stream(
            thread_id,
            "interview",
            command={"resume": "ship it"},
            stream_mode=["values", "updates", "messages-tuple"],
        )
    )
    tokens = [p.data for p in parts if p.event == "messages"]
    assert len(tokens) > 3  # word by word, not one message
    chunk, metadata = tokens[0]
    assert chunk["type"] == "AIMessageChunk" and metadata["langgraph_node"] == "summarize"
    assert "".join(c["content"] for c, _ in tokens) == "Summary: Ada wants to ship it."
    assert {"ask_goal": {"goal": "ship it"}} in [p.data for p in parts if p.event == "updates"]
    assert parts[-1].event == "values"
    assert parts[-1].data["summary"] == "Summary: Ada wants to ship it."
    run = sdk.runs.get(thread_id, parts[0].data["run_id"])
    assert run["status"] == "success"


def test_history_newest_first_and_fork_from_an_earlier_checkpoint(sdk: Any) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    sdk.runs.wait(thread_id, "interview", input={"topic": "Django"})
    sdk.runs.wait(thread_id, "interview", command={"resume": "Ada"})
    sdk.runs.wait(thread_id, "interview", command={"resume": "ship it"})

    history = sdk.threads.get_history(thread_id, limit=20)
    assert history[0]["next"] == [] and history[0]["values"]["summary"].endswith("ship it.")
    steps = [h["metadata"]["step"] for h in history]
    assert steps == sorted(steps, reverse=True)
    assert history[0]["parent_checkpoint"] == history[1]["checkpoint"]
    waiting = next(h for h in history if h["next"] == ["ask_goal"])
    old_id = waiting["tasks"][0]["interrupts"][0]["id"]

    # Replay from the checkpoint that waited for the goal: asked again, under a new id.
    replay = sdk.runs.wait(
        thread_id, "interview", input=None, checkpoint_id=waiting["checkpoint_id"]
    )
    [again] = replay["__interrupt__"]
    assert again["value"] == GOAL_QUESTION and again["id"] != old_id
    forked = sdk.runs.wait(thread_id, "interview", command={"resume": "learn Rust"})
    assert summary_of(forked) == "Summary: Ada wants to learn Rust."

    after = sdk.threads.get_history(thread_id, limit=50)
    summaries = {h["values"].get("summary") for h in after}
    assert {"Summary: Ada wants to ship it.", "Summary: Ada wants to learn Rust."} <= summaries
    assert sdk.threads.get_state(thread_id)["values"]["goal"] == "learn Rust"

    # A `checkpoint` equal to the current head (what useStream sends) is no checkpoint.
    head = sdk.threads.get_state(thread_id)["checkpoint"]
    again = sdk.runs.wait(
        thread_id,
        "interview",
        input={"topic": "Django"},
        checkpoint={"checkpoint_id": head["checkpoint_id"]},
    )
    assert again["__interrupt__"][0]["value"] == NAME_QUESTION


def test_update_state_forks_at_a_checkpoint(sdk: Any) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    sdk.runs.wait(thread_id, "interview", input={"topic": "Django"})
    sdk.runs.wait(thread_id, "interview", command={"resume": "Ada"})
    waiting = sdk.threads.get_state(thread_id)
    assert waiting["next"] == ["ask_goal"]

    result = sdk.threads.update_state(thread_id, {"goal": "write docs"}, as_node="ask_goal")
    assert result["checkpoint"]["checkpoint_id"] != waiting["checkpoint_id"]
    state = sdk.threads.get_state(thread_id)
    assert state["values"]["goal"] == "write docs" and state["next"] == ["summarize"]
    done = sdk.runs.wait(thread_id, "interview", input=None)
    assert summary_of(done) == "Summary: Ada wants to write docs."

    at = sdk.threads.get_state(thread_id, checkpoint_id=waiting["checkpoint_id"])
    assert at["next"] == ["ask_goal"] and "goal" not in at["values"]


def test_reject_on_a_busy_thread_is_409_and_changes_nothing(sdk: Any) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    sdk.runs.wait(thread_id, "interview", input={})
    # Another request holds the session: exactly what the service's claim writes.
    Session.objects.filter(thread_id=thread_id).update(status=SessionStatus.RUNNING)
    assert sdk.threads.get(thread_id)["status"] == "busy"
    with pytest.raises(httpx.HTTPStatusError) as caught:  # runs.wait raises httpx's error
        sdk.runs.wait(
            thread_id, "interview", command={"resume": "Ada"}, multitask_strategy="reject"
        )
    assert caught.value.response.status_code == 409
    assert "already running" in caught.value.response.json()["detail"]
    with pytest.raises(ConflictError):
        list(sdk.runs.stream(thread_id, "interview", input={}, multitask_strategy="reject"))
    assert Run.objects.filter(session__thread_id=thread_id).count() == 1
    assert sdk.threads.search(status="busy")[0]["thread_id"] == thread_id


def test_enqueue_queues_behind_the_busy_thread_then_runs(sdk: Any) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    sdk.runs.wait(thread_id, "interview", input={})
    Session.objects.filter(thread_id=thread_id).update(status=SessionStatus.RUNNING)

    def finish_the_other_run() -> None:
        time.sleep(0.6)
        session = Session.objects.get(thread_id=thread_id)
        Session.objects.filter(pk=session.pk).update(status=SessionStatus.INTERRUPTED)
        # What the engine does when a run ends: the run queued behind it gets its turn
        # (a real run ending is in test_multitask; this one was faked to hold the thread).
        engine.dispatch_next(session.pk)

    other = threading.Thread(target=finish_the_other_run)
    other.start()
    started = time.monotonic()
    result = sdk.runs.wait(
        thread_id, "interview", command={"resume": "Ada"}, multitask_strategy="enqueue"
    )
    other.join()
    assert time.monotonic() - started >= 0.5
    assert result["__interrupt__"][0]["value"] == GOAL_PROJECT


def test_background_create_then_join(sdk: Any) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    run = sdk.runs.create(thread_id, "interview", input={"topic": "Django"})
    assert run["status"] in ("pending", "running", "success")
    assert run["thread_id"] == thread_id and run["assistant_id"] == INTERVIEW_ID
    result = sdk.runs.join(thread_id, run["run_id"])
    assert result["__interrupt__"][0]["value"] == NAME_QUESTION
    assert sdk.runs.get(thread_id, run["run_id"])["status"] == "success"
    assert sdk.threads.get(thread_id)["status"] == "interrupted"

    # A finished run's stream replays from the event log, as its client saw it.
    joined = list(sdk.runs.join_stream(thread_id, run["run_id"]))
    assert joined[0].event == "metadata" and joined[0].data["run_id"] == run["run_id"]
    assert {p.event for p in joined[1:]} == {"values"}
    assert joined[-1].data["__interrupt__"][0]["value"] == NAME_QUESTION


def test_search_by_graph_id_patch_copy_and_delete(sdk: Any, stored_threads: Any) -> None:
    interview = sdk.threads.create()["thread_id"]
    sdk.runs.wait(interview, "interview", input={})
    other = sdk.threads.create(metadata={"graph_id": "approval"})["thread_id"]
    never_run = sdk.threads.create()["thread_id"]

    found = sdk.threads.search(metadata={"graph_id": "interview"}, limit=100)
    assert [t["thread_id"] for t in found] == [interview]
    by_assistant = sdk.threads.search(metadata={"assistant_id": INTERVIEW_ID})
    assert [t["thread_id"] for t in by_assistant] == [interview]
    assert {t["thread_id"] for t in sdk.threads.search(limit=100)} == {
        interview,
        other,
        never_run,
    }
    assert [t["thread_id"] for t in sdk.threads.search(status="interrupted")] == [interview]

    patched = sdk.threads.update(interview, metadata={"team": "blue"})
    assert patched["metadata"]["team"] == "blue" and patched["metadata"]["graph_id"] == "interview"

    copy = sdk.threads.copy(interview)
    copied = copy["thread_id"]
    assert copied != interview
    assert sdk.threads.get_state(copied)["values"] == sdk.threads.get_state(interview)["values"]
    resumed = sdk.runs.wait(copied, "interview", command={"resume": "Ada"})
    assert resumed["__interrupt__"][0]["value"] == GOAL_PROJECT
    assert sdk.threads.get_state(interview)["next"] == ["ask_name"]  # the original waits still

    sdk.threads.delete(interview)
    with pytest.raises(NotFoundError):
        sdk.threads.get(interview)
    assert interview not in stored_threads()
    assert not Session.objects.filter(thread_id=interview).exists()
    sdk.threads.delete(never_run)
    with pytest.raises(NotFoundError):
        sdk.threads.get(never_run)


def test_thread_create_if_exists_and_run_if_not_exists(sdk: Any) -> None:
    thread = sdk.threads.create(thread_id="0b7f5d2e-1111-4222-8333-444455556666")
    with pytest.raises(ConflictError):
        sdk.threads.create(thread_id=thread["thread_id"])
    same = sdk.threads.create(thread_id=thread["thread_id"], if_exists="do_nothing")
    assert same["thread_id"] == thread["thread_id"]

    missing = "9c0ffee0-0000-4000-8000-000000000001"
    with pytest.raises(httpx.HTTPStatusError) as caught:
        sdk.runs.wait(missing, "interview", input={})
    assert caught.value.response.status_code == 404
    created = sdk.runs.wait(missing, "interview", input={}, if_not_exists="create")
    assert created["__interrupt__"][0]["value"] == NAME_QUESTION
    assert sdk.threads.get(missing)["status"] == "interrupted"


def test_server_info_and_ok(sdk: Any) -> None:
    info = sdk.http.get("/info")
    assert info["flags"]["assistants"] is True and info["flags"]["crons"] is True
    ok = sdk.http.get("/ok")
    assert ok["ok"] is True and ok["checks"]["database"]["status"] == "ok"


def test_stateless_runs_leave_no_thread_behind(sdk: Any) -> None:
    result = sdk.runs.wait(None, "interview", input={"topic": "Django"})
    assert result["__interrupt__"][0]["value"] == NAME_QUESTION
    parts = list(sdk.runs.stream(None, "interview", input={}, stream_mode="updates"))
    assert parts[0].event == "metadata" and parts[-1].data["__interrupt__"]
    assert not Session.objects.exists()
    kept = sdk.runs.wait(None, "interview", input={}, on_completion="keep")
    assert kept["__interrupt__"] and Session.objects.count() == 1


@pytest.mark.parametrize("log", ["database", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_worker_run_can_be_joined_afterwards_in_any_mode(
    sdk: Any, log: str, request: pytest.FixtureRequest, settings: Any
) -> None:
    """A `runs.create` run executed by the worker, nobody listening, logs every mode a
    client may join it with: a `joinStream` after the fact gets the mode it asks for."""
    url = request.getfixturevalue("redis_clean_url") if log == "redis" else None
    with override_settings(YAMLGRAPH={**getattr(settings, "YAMLGRAPH", {}), "EVENTS_URL": url}):
        thread_id = sdk.threads.create()["thread_id"]
        run = sdk.runs.create(thread_id, "interview", input={"topic": "Django"})
        sdk.runs.join(thread_id, run["run_id"])
        for mode in ("values", "updates", "tasks", "checkpoints"):
            joined = list(sdk.runs.join_stream(thread_id, run["run_id"], stream_mode=mode))
            assert joined[0].event == "metadata"
            assert mode in {part.event for part in joined[1:]}, mode


def test_join_stream_takes_stream_mode_in_every_spelling(
    sdk: Any, lg_url: str, alice: Any, token_of: Any
) -> None:
    """`stream_mode` in a join's query string as the clients send it: repeated keys (the
    Python SDK, JS SDK 1.x), a comma list, a JSON array (JS SDK 2.0)."""
    thread_id = sdk.threads.create()["thread_id"]
    run = sdk.runs.create(thread_id, "interview", input={"topic": "Django"})
    sdk.runs.join(thread_id, run["run_id"])
    joined = sdk.runs.join_stream(thread_id, run["run_id"], stream_mode=["values", "updates"])
    assert {part.event for part in joined} == {"metadata", "values", "updates"}

    url = f"{lg_url}/threads/{thread_id}/runs/{run['run_id']}/stream"
    headers = {"Authorization": f"Token {token_of(alice)}"}
    for spelled in ("values,updates", '["values","updates"]'):
        response = httpx.get(url, params={"stream_mode": spelled}, headers=headers, timeout=30)
        assert response.status_code == 200, spelled
        events = {line[7:] for line in response.text.splitlines() if line.startswith("event: ")}
        assert events == {"metadata", "values", "updates"}, spelled
