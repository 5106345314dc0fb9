"""The chat example (graphs/chat_assistant.yaml) through LangGraph's Python SDK, as
agent-chat-ui drives it: every chat message is a run with input `{"messages": [...]}`;
the plain question is answered by the next message, the review question by a decision
in LangChain's HITL shape (or agent-inbox's), and the reply streams as `messages`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from yamlgraph_django.models import Run, RunKind, Session

pytestmark = pytest.mark.django_db(transaction=True)

GREETING = "Hello! I can draft an e-mail to the team and send it once you approve."
QUESTION = "What should the e-mail say?"


def said(values: dict[str, Any]) -> list[tuple[str, str]]:
    return [(message["type"], message["content"]) for message in values["messages"]]


def human(text: str, id: str = "m1") -> dict[str, Any]:
    """A message as agent-chat-ui sends it (content blocks, its own id)."""
    return {"id": id, "type": "human", "content": [{"type": "text", "text": text}]}


def chat_until_review(sdk: Any) -> tuple[str, dict[str, Any]]:
    thread = sdk.threads.create()["thread_id"]
    first = sdk.runs.wait(thread, "chat_assistant", input={"messages": [human("Hi there", "m1")]})
    assert said(first)[-2:] == [("ai", GREETING), ("ai", QUESTION)]
    assert first["__interrupt__"][0]["value"] == QUESTION

    # the next chat message answers the question: the run resumes, it does not start over
    second = sdk.runs.wait(
        thread, "chat_assistant", input={"messages": [human("Lunch is at noon.", "m2")]}
    )
    assert [m["id"] for m in second["messages"] if m["type"] == "human"] == ["m1", "m2"]
    assert second["topic"] == "Lunch is at noon."
    review = second["__interrupt__"][0]["value"]
    assert review == {
        "action_requests": [
            {
                "name": "send_email",
                "args": {
                    "to": "team@example.com",
                    "subject": "A message from the assistant",
                    "body": "Lunch is at noon.",
                },
                "description": "Send this e-mail to team@example.com?",
            }
        ],
        "review_configs": [
            {"action_name": "send_email", "allowed_decisions": ["approve", "edit", "reject"]}
        ],
    }
    return thread, second


def test_conversation_question_and_approval(sdk: Any) -> None:
    thread, _ = chat_until_review(sdk)
    session = Session.objects.get(thread_id=thread)
    assert [run.kind for run in Run.objects.filter(session=session).order_by("pk")] == [
        RunKind.START,
        RunKind.RESUME,
    ]

    chunks = []
    for part in sdk.runs.stream(
        thread,
        "chat_assistant",
        command={"resume": {"decisions": [{"type": "approve"}]}},
        stream_mode=["values", "messages-tuple"],
    ):
        if part.event == "messages":
            chunks.append(part.data[0]["content"])
    done = sdk.threads.get_state(thread)["values"]

    assert "".join(chunks).endswith("Done: the e-mail is sent.")
    assert done["decision"] == {
        "type": "approve",
        "args": {
            "to": "team@example.com",
            "subject": "A message from the assistant",
            "body": "Lunch is at noon.",
        },
        "message": None,
    }
    assert done["sent"]["body"] == "Lunch is at noon."
    assert said(done)[-1] == ("ai", "Done: the e-mail is sent.")


def test_edit_and_inbox_shapes_and_refusals(sdk: Any) -> None:
    thread, _ = chat_until_review(sdk)

    with pytest.raises(httpx.HTTPStatusError) as caught:  # runs.wait raises httpx's
        sdk.runs.wait(
            thread, "chat_assistant", command={"resume": {"decisions": [{"type": "maybe"}]}}
        )
    assert caught.value.response.status_code == 400
    assert "unknown decision type 'maybe'" in caught.value.response.text

    edited = sdk.runs.wait(
        thread,
        "chat_assistant",
        command={
            "resume": [
                {
                    "type": "edit",
                    "args": {"action": "send_email", "args": {"to": "bo@x", "body": "Hi"}},
                }
            ]
        },
    )
    assert edited["decision"] == {
        "type": "edit",
        "args": {"to": "bo@x", "body": "Hi"},
        "message": None,
    }
    assert edited["sent"] == {"to": "bo@x", "body": "Hi"}


def test_reject_with_a_message_and_bad_chat_input(sdk: Any) -> None:
    thread, _ = chat_until_review(sdk)
    with pytest.raises(httpx.HTTPStatusError) as caught:  # runs.wait raises httpx's
        sdk.runs.wait(thread, "chat_assistant", input={"messages": 42})
    assert caught.value.response.status_code == 400
    assert caught.value.response.json()["errors"][
        "input.messages"
    ]  # named under input, as on every /lg/ run

    rejected = sdk.runs.wait(
        thread,
        "chat_assistant",
        command={"resume": {"decisions": [{"type": "reject", "message": "Not today"}]}},
    )
    assert rejected["decision"] == {
        "type": "reject",
        "args": rejected["decision"]["args"],
        "message": "Not today",
    }
    assert said(rejected)[-1] == ("ai", "OK, I did not send it.")
    assert "sent" not in rejected
