"""The thread-scoped protocol (`POST /threads/{id}/commands`, `POST /threads/{id}/stream/events`)
as its wire shapes say (langchain_protocol), through Django's test client: a made-up
thread id created by `run.start`, questions on the `input` channel, `since` resuming,
token chunks as message events, errors as protocol error envelopes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings

from yamlgraph_django.models import Session
from yamlgraph_django.protocol.stream_modes import stream_modes_of
from yamlgraph_django.services import thread_events


@pytest.fixture(autouse=True)
def _short_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Event streams close after 0.3 s without news (60 s in production), so a test
    reads a whole stream."""
    monkeypatch.setattr(thread_events, "IDLE_CLOSE_SECONDS", 0.3)


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def browser(
    request: pytest.FixtureRequest, graphs: Any, alice: Any, token_of: Any, yamlgraph_settings: Any
) -> Iterator[Client]:
    """Alice's client; the run event log in the database table, or in Redis Streams
    (which cannot seek to a run: the stream reads the log and filters)."""
    url = request.getfixturevalue("redis_clean_url") if request.param == "redis" else None
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "EVENTS_URL": url}):
        yield Client(HTTP_X_API_KEY=token_of(alice))


def command(client: Client, thread_id: str, method: str, params: dict, number: int = 1) -> Any:
    return client.post(
        f"/lg/threads/{thread_id}/commands",
        json.dumps({"id": number, "method": method, "params": params}),
        content_type="application/json",
    )


def events(client: Client, thread_id: str, **body: Any) -> list[dict[str, Any]]:
    response = client.post(
        f"/lg/threads/{thread_id}/stream/events",
        json.dumps(body),
        content_type="application/json",
        HTTP_ACCEPT="text/event-stream",
    )
    assert response.status_code == 200, response.content
    assert response["content-type"].startswith("text/event-stream")
    text = b"".join(response.streaming_content).decode()
    found = []
    for frame in text.split("\n\n"):
        for line in frame.splitlines():
            if line.startswith("data: "):
                found.append(json.loads(line[6:]))
    return found


def test_run_start_creates_the_thread_and_the_question_comes_on_input(
    browser: Client, alice: Any
) -> None:
    thread_id = str(uuid.uuid4())
    started = command(browser, thread_id, "run.start", {"assistant_id": "interview", "input": {}})
    assert started.status_code == 200
    body = started.json()
    assert body["type"] == "success" and body["id"] == 1
    assert uuid.UUID(body["result"]["run_id"])
    session = Session.objects.get(thread_id=thread_id)
    assert session.owner == alice and session.status == "interrupted"

    seen = events(browser, thread_id, channels=["lifecycle", "input", "values"])
    methods = [e["method"] for e in seen]
    assert methods[0] == "lifecycle" and seen[0]["params"]["data"]["event"] == "running"
    assert seen[-1]["params"]["data"] == {"event": "interrupted"}
    asked = [e for e in seen if e["method"] == "input.requested"]
    assert len(asked) == 1
    question = asked[0]["params"]
    assert question["namespace"] == []
    assert question["data"]["payload"] == "Hi! What is your name?"
    assert question["data"]["interrupt_id"] == session.interrupts[0]["id"]
    assert all(e["type"] == "event" and "event_id" in e for e in seen)
    seqs = [e["seq"] for e in seen]
    assert seqs == sorted(seqs)
    # Values carry the state without __interrupt__ (the question has its own channel).
    assert all("__interrupt__" not in e["params"]["data"] for e in seen if e["method"] == "values")

    # Answer it: the next run comes on a stream resumed after the last seq seen.
    interrupt_id = question["data"]["interrupt_id"]
    answered = command(
        browser,
        thread_id,
        "input.respond",
        {"namespace": [], "interrupt_id": interrupt_id, "response": "Ada"},
        2,
    )
    assert answered.json() == {"type": "success", "id": 2, "result": {}}
    later = events(browser, thread_id, channels=["input", "lifecycle"], since=seqs[-1])
    assert later and all(e["seq"] > seqs[-1] for e in later)
    assert [e["params"]["data"]["payload"] for e in later if e["method"] == "input.requested"] == [
        "Thanks Ada. What do you want to achieve with your project?"
    ]
    # Only the channels asked for.
    assert {e["method"] for e in later} <= {"input.requested", "lifecycle"}


def test_messages_channel_assembles_the_llm_tokens(browser: Client) -> None:
    thread_id = str(uuid.uuid4())
    command(browser, thread_id, "run.start", {"assistant_id": "interview", "input": {}})
    for answer in ("Ada", "ship it"):
        pending = Session.objects.get(thread_id=thread_id).interrupts[0]["id"]
        params = {"namespace": [], "interrupt_id": pending, "response": answer}
        assert command(browser, thread_id, "input.respond", params).status_code == 200
    seen = events(browser, thread_id, channels=["messages", "lifecycle"])
    messages = [e["params"] for e in seen if e["method"] == "messages"]
    kinds = [m["data"]["event"] for m in messages]
    assert kinds[0] == "message-start" and kinds[-1] == "message-finish"
    assert messages[0]["data"]["role"] == "ai"
    assert messages[0]["node"] == "summarize"
    text = "".join(
        m["data"]["delta"]["text"] for m in messages if m["data"]["event"] == "content-block-delta"
    )
    assert text == "Summary: Ada wants to ship it."
    finished = [m["data"] for m in messages if m["data"]["event"] == "content-block-finish"]
    assert finished[0]["content"] == {"type": "text", "text": text}
    assert seen[-1]["params"]["data"] == {"event": "completed"}


def test_state_get_fork_and_tree(browser: Client) -> None:
    thread_id = str(uuid.uuid4())
    command(browser, thread_id, "run.start", {"assistant_id": "interview", "input": {}})
    state = command(browser, thread_id, "state.get", {"namespace": []}).json()["result"]
    assert state["values"]["topic"] == "your project"
    assert state["checkpoint"]["id"]
    only = command(browser, thread_id, "state.get", {"namespace": [], "keys": ["topic"]})
    assert only.json()["result"]["values"] == {"topic": "your project"}
    tree = command(browser, thread_id, "agent.getTree", {}).json()["result"]["tree"]
    assert tree == {"namespace": [], "status": "interrupted", "graph_name": "interview"}
    listed = command(browser, thread_id, "state.listCheckpoints", {"limit": 2}).json()
    assert len(listed["result"]["checkpoints"]) == 2

    first = listed["result"]["checkpoints"][-1]["id"]
    forked = command(browser, thread_id, "state.fork", {"checkpoint_id": first}).json()
    assert forked["type"] == "success"
    assert forked["result"]["thread_id"] == thread_id and forked["result"]["run_id"]
    missing = command(browser, thread_id, "state.fork", {"checkpoint_id": "nope"})
    assert missing.status_code == 404 and missing.json()["error"] == "no_such_checkpoint"


def test_protocol_errors_name_what_is_wrong(browser: Client, bob: Any, token_of: Any) -> None:
    thread_id = str(uuid.uuid4())
    unknown = command(browser, thread_id, "run.explode", {})
    assert unknown.status_code == 404
    assert (
        unknown.json()["error"] == "unknown_command" and "run.explode" in unknown.json()["message"]
    )
    unknown_graph = command(browser, thread_id, "run.start", {"assistant_id": "nope", "input": {}})
    assert unknown_graph.status_code == 422 and "nope" in unknown_graph.json()["message"]
    assert unknown_graph.json()["error"] == "invalid_argument"
    assert not Session.objects.filter(thread_id=thread_id).exists()  # nothing was created
    no_assistant = command(browser, thread_id, "run.start", {"input": {}})
    assert no_assistant.status_code == 400 and "assistant_id" in no_assistant.json()["message"]
    bad_input = command(
        browser, thread_id, "run.start", {"assistant_id": "interview", "input": {"nope": 1}}
    )
    assert bad_input.status_code == 400 and "nope" in bad_input.json()["message"]
    assert bad_input.json()["error"] == "invalid_argument"
    assert not Session.objects.filter(thread_id=thread_id).exists()  # refused: no thread left
    assert command(browser, thread_id, "state.get", {"namespace": []}).status_code in (200, 404)

    command(browser, thread_id, "run.start", {"assistant_id": "interview", "input": {}})
    stale = command(
        browser, thread_id, "input.respond", {"namespace": [], "interrupt_id": "x", "response": 1}
    )
    assert stale.status_code == 404 and stale.json()["error"] == "no_such_interrupt"
    bad_channel = browser.post(
        f"/lg/threads/{thread_id}/stream/events",
        json.dumps({"channels": ["values", "telepathy"]}),
        content_type="application/json",
    )
    assert bad_channel.status_code == 400 and "telepathy" in bad_channel.content.decode()

    # Bob sees nothing of Alice's thread, and cannot take its id over with run.start.
    other = Client(HTTP_X_API_KEY=token_of(bob))
    assert command(other, thread_id, "state.get", {"namespace": []}).status_code == 404
    stream = other.post(
        f"/lg/threads/{thread_id}/stream/events",
        json.dumps({"channels": ["values"]}),
        content_type="application/json",
    )
    assert stream.status_code == 404
    taken = command(other, thread_id, "run.start", {"assistant_id": "interview", "input": {}})
    assert taken.status_code == 404  # someone else's thread does not exist for Bob
    assert Session.objects.get(thread_id=thread_id).owner.username == "alice"


def test_stream_mode_spellings() -> None:
    from django.http import QueryDict

    assert stream_modes_of(QueryDict("stream_mode=values&stream_mode=updates")) == [
        "values",
        "updates",
    ]
    assert stream_modes_of(QueryDict("stream_mode=values,updates")) == ["values", "updates"]
    assert stream_modes_of(QueryDict('stream_mode=["values","updates","values"]')) == [
        "values",
        "updates",
    ]
    assert stream_modes_of(QueryDict("stream_mode=")) == []


def sse_frames(response: Any) -> list[tuple[str, Any]]:
    text = b"".join(response.streaming_content).decode().replace("\r\n", "\n")
    frames = []
    for frame in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if "event" in fields:
            frames.append((fields["event"], json.loads(fields["data"])))
    return frames


def test_events_mode_streams_astream_events_shapes(browser: Client) -> None:
    thread_id = str(uuid.uuid4())
    body = {"assistant_id": "interview", "input": {}, "if_not_exists": "create"}
    response = browser.post(
        f"/lg/threads/{thread_id}/runs/stream",
        json.dumps({**body, "stream_mode": ["events"]}),
        content_type="application/json",
    )
    frames = sse_frames(response)
    assert frames[0][0] == "metadata"
    assert {name for name, _ in frames} == {"metadata", "events"}  # nothing else was asked
    events = [data for name, data in frames if name == "events"]
    assert events[0]["event"] == "on_chain_start" and events[0]["name"] == "interview"
    assert events[-1]["event"] == "on_chain_end" and events[-1]["name"] == "interview"
    ended = [e["name"] for e in events if e["event"] == "on_chain_end"]
    assert "ask_name__prompt" in ended
    run_id = frames[0][1]["run_id"]
    assert all(e["run_id"] == run_id or run_id in e["parent_ids"] for e in events)

    # The LLM's tokens as on_chat_model_stream, on a later run.
    for answer in ("Ada", "ship it"):
        resumed = browser.post(
            f"/lg/threads/{thread_id}/runs/stream",
            json.dumps(
                {
                    "assistant_id": "interview",
                    "command": {"resume": answer},
                    "stream_mode": "events",
                }
            ),
            content_type="application/json",
        )
        frames = sse_frames(resumed)
    tokens = [
        d["data"]["chunk"]["content"] for n, d in frames if d.get("event") == "on_chat_model_stream"
    ]
    assert "".join(tokens) == "Summary: Ada wants to ship it."


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_paths_and_methods_answer_json(browser: Client, debug: bool, settings: Any) -> None:
    settings.DEBUG = debug
    for response in [
        browser.get("/lg/nope"),
        browser.post("/lg/threads/x/unknown/deeper", "{}", content_type="application/json"),
    ]:
        assert response.status_code == 404
        assert response["content-type"] == "application/json"
        assert response.json()["code"] == "not_found"
    wrong = browser.delete("/lg/assistants/search")
    assert wrong.status_code == 405
    assert wrong["content-type"] == "application/json"
    assert "DELETE" in wrong.json()["detail"]


def test_projection_of_tool_calls_custom_parts_and_checkpoints() -> None:
    """What the log holds for an agent's turn, a writer's custom part and a checkpoint,
    as protocol events (no graph needed: the projection reads logged parts)."""
    from yamlgraph_django.events import Event
    from yamlgraph_django.protocol.stream_events import Projection

    projection = Projection(["tools", "custom", "checkpoints", "updates"])
    ai = {
        "type": "ai",
        "content": "",
        "tool_calls": [{"id": "c1", "name": "add", "args": {"a": 1}}],
    }
    tool = {"type": "tool", "content": "2", "tool_call_id": "c1", "status": "success"}
    parts = [
        Event("5-0", 1, "updates", {"agent": {"messages": [ai]}}),
        Event("5-1", 1, "updates", {"tools": {"messages": [tool]}}),
        Event("6-0", 1, "custom", {"name": "progress", "payload": {"done": 1}}),
        Event("6-1", 1, "custom", "plain"),
        Event(
            "7-0",
            1,
            "checkpoints",
            {
                "config": {"configurable": {"checkpoint_id": "b"}},
                "parent_config": {"configurable": {"checkpoint_id": "a"}},
                "metadata": {"step": 2, "source": "loop"},
            },
        ),
    ]
    events = [e for part in parts for e in projection.events(part)]
    tools = [e["params"]["data"] for e in events if e["method"] == "tools"]
    assert tools == [
        {"event": "tool-started", "tool_call_id": "c1", "tool_name": "add", "input": {"a": 1}},
        {"event": "tool-finished", "tool_call_id": "c1", "output": "2"},
    ]
    custom = [e["params"]["data"] for e in events if e["method"] == "custom"]
    assert custom == [{"name": "progress", "payload": {"done": 1}}, {"payload": "plain"}]
    checkpoint = [e["params"]["data"] for e in events if e["method"] == "checkpoints"]
    assert checkpoint == [{"id": "b", "parent_id": "a", "step": 2, "source": "loop"}]
    updates = [e for e in events if e["method"] == "updates"]
    assert updates[0]["params"]["node"] == "agent"
    assert updates[0]["params"]["data"]["values"] == {"messages": [ai]}
    # seq grows with the log id; a part's events have their own event ids.
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert len({e["event_id"] for e in events}) == len(events)

    only_named = Projection(["custom:progress"])
    named = [e for part in parts for e in only_named.events(part)]
    assert [e["params"]["data"]["name"] for e in named] == ["progress"]
