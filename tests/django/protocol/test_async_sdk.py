"""The langgraph-sdk async client through the interview: what an async app or agent
framework would do. Only HTTP here (no ORM in the event loop)."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph_sdk.errors import NotFoundError


async def test_async_client_create_wait_resume_by_id_stream_history_delete(
    async_sdk: Any,
) -> None:
    client = async_sdk
    [assistant] = await client.assistants.search(graph_id="interview")
    thread = await client.threads.create()
    thread_id = thread["thread_id"]

    first = await client.runs.wait(thread_id, assistant["assistant_id"], input={"topic": "Django"})
    [question] = first["__interrupt__"]
    assert question["value"] == "Hi! What is your name?"

    second = await client.runs.wait(
        thread_id, "interview", command={"resume": {question["id"]: "Ada"}}
    )
    assert second["name"] == "Ada"

    events = []
    async for part in client.runs.stream(
        thread_id,
        "interview",
        command={"resume": "ship it"},
        stream_mode=["values", "updates", "messages-tuple"],
    ):
        events.append(part)
    assert events[0].event == "metadata"
    text = "".join(p.data[0]["content"] for p in events if p.event == "messages")
    assert text == "Summary: Ada wants to ship it."
    assert events[-1].data["summary"] == text

    history = await client.threads.get_history(thread_id, limit=3)
    assert [h["next"] for h in history] == [[], ["summarize"], ["ask_goal"]]
    found = await client.threads.search(metadata={"graph_id": "interview"})
    assert [t["thread_id"] for t in found] == [thread_id]
    assert found[0]["status"] == "idle"

    await client.threads.delete(thread_id)
    with pytest.raises(NotFoundError):
        await client.threads.get(thread_id)
