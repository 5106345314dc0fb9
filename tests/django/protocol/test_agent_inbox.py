"""agent-inbox against /lg/, through LangGraph's Python SDK sending exactly what
agent-inbox sends (its ThreadContext and use-interrupted-actions):

- it lists `threads.search({status: "interrupted", metadata: {graph_id}})` and reads a
  card (`action_request`, `config`, `description`) next to a plain question's `value`,
  or normalizes a review question's HITL value itself;
- Submit is `runs.stream(thread, graph, command={"resume": [{"type": "response",
  "args": text}]}, stream_mode="events")`; Ignore is `runs.create` with
  `[{"type": "ignore", "args": None}]`;
- to a HITL question it sends `{"decisions": [...]}` with its own answers renamed
  (accept -> approve, response -> reject) and `args` kept.

A plain question takes only a `response`, validated like any answer; Ignore or Accept
is refused (400), never stored as the answer.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from yamlgraph_django.models import Session

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "What should the e-mail say?"
REVIEW_ARGS = {
    "to": "team@example.com",
    "subject": "A message from the assistant",
    "body": "Lunch is at noon.",
}
PICK = """\
version: "1.0"
name: pick
state:
  size: str
nodes:
  ask_size:
    type: interrupt
    message: "Which size?"
    choices: ["small", "large"]
    resume_key: size
edges:
  - {from: START, to: ask_size}
  - {from: ask_size, to: END}
"""


def inbox_listing(sdk: Any, graph_id: str) -> list[dict[str, Any]]:
    """The interrupted threads agent-inbox lists for a graph (its first page)."""
    return sdk.threads.search(
        offset=0, limit=10, status="interrupted", metadata={"graph_id": graph_id}
    )


def respond(sdk: Any, thread: str, graph_id: str, resume: Any) -> list[Any]:
    """agent-inbox's Submit: a streamed run in `events` mode resuming with `resume`."""
    return list(sdk.runs.stream(thread, graph_id, command={"resume": resume}, stream_mode="events"))


def refused(call: Any) -> httpx.Response:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        call()
    assert caught.value.response.status_code == 400
    return caught.value.response


def card_of(thread: dict[str, Any]) -> dict[str, Any]:
    """What agent-inbox's getInterruptFromThread reads: the first interrupt of the
    thread's `interrupts` (task id -> [interrupt])."""
    [interrupts] = thread["interrupts"].values()
    return interrupts[0]


def test_plain_question_is_a_respond_card_and_review_takes_inbox_decisions(sdk: Any) -> None:
    thread = sdk.threads.create(metadata={"source": "inbox"})["thread_id"]
    first = sdk.runs.wait(
        thread, "chat_assistant", input={"messages": [{"type": "human", "content": "Hi"}]}
    )
    assert first["__interrupt__"][0]["value"] == QUESTION

    [listed] = inbox_listing(sdk, "chat_assistant")
    card = card_of(listed)
    assert card["value"] == QUESTION
    assert card["action_request"] == {"action": "question", "args": {}}
    assert card["description"] == QUESTION
    assert card["config"] == {  # Respond only: no Accept, Edit or Ignore button
        "allow_accept": False,
        "allow_edit": False,
        "allow_respond": True,
        "allow_ignore": False,
    }
    assert card_of(sdk.threads.get(thread))["config"] == card["config"]  # fetchSingleThread

    # Ignore (runs.create) and Accept are not answers: refused, nothing stored, still asked
    ignored = refused(
        lambda: sdk.runs.create(
            thread, "chat_assistant", command={"resume": [{"type": "ignore", "args": None}]}
        )
    )
    assert "'ignore' does not answer this question" in ignored.text
    accepted = refused(lambda: respond(sdk, thread, "chat_assistant", [{"type": "accept"}]))
    assert "'accept' does not answer this question" in accepted.text
    state = sdk.threads.get_state(thread)
    assert "topic" not in state["values"] and state["next"] == ["ask_topic"]

    # Submit with the Respond box: the answer is the text
    parts = respond(
        sdk, thread, "chat_assistant", [{"type": "response", "args": "Lunch is at noon."}]
    )
    assert any(  # what agent-inbox shows as the running node
        part.event == "events" and part.data.get("metadata", {}).get("langgraph_node")
        for part in parts
    )
    state = sdk.threads.get_state(thread)
    assert state["values"]["topic"] == "Lunch is at noon."

    # the review question: agent-inbox normalizes the HITL value and sends decisions
    [listed] = inbox_listing(sdk, "chat_assistant")
    review = card_of(listed)
    assert review["value"]["action_requests"][0]["args"] == REVIEW_ARGS
    assert "config" not in review  # no card of ours: agent-inbox reads the HITL shape
    unknown = refused(
        lambda: respond(sdk, thread, "chat_assistant", {"decisions": [{"type": "maybe"}]})
    )
    assert "unknown decision type 'maybe'" in unknown.text

    # Accept with editing allowed and no edits: "approve" with its action request as args
    request = {"action": "send_email", "args": REVIEW_ARGS}
    respond(sdk, thread, "chat_assistant", {"decisions": [{"type": "approve", "args": request}]})
    done = sdk.threads.get_state(thread)["values"]
    assert done["decision"] == {"type": "approve", "args": REVIEW_ARGS, "message": None}
    assert done["sent"] == REVIEW_ARGS
    assert done["messages"][-1]["content"] == "Done: the e-mail is sent."
    assert inbox_listing(sdk, "chat_assistant") == []
    assert Session.objects.get(thread_id=thread).status == "completed"


def until_review(sdk: Any) -> str:
    thread = sdk.threads.create()["thread_id"]
    sdk.runs.wait(
        thread, "chat_assistant", input={"messages": [{"type": "human", "content": "Hi"}]}
    )
    sdk.runs.wait(
        thread, "chat_assistant", command={"resume": [{"type": "response", "args": "Lunch"}]}
    )
    return thread


def test_review_edit_reject_and_ignore_as_agent_inbox_sends_them(sdk: Any) -> None:
    edited_args = {**REVIEW_ARGS, "body": "Lunch is at one."}
    thread = until_review(sdk)
    edit = {"type": "edit", "args": {"action": "send_email", "args": edited_args}}
    respond(sdk, thread, "chat_assistant", {"decisions": [edit]})
    done = sdk.threads.get_state(thread)["values"]
    assert done["decision"] == {"type": "edit", "args": edited_args, "message": None}
    assert done["sent"] == edited_args

    thread = until_review(sdk)  # Respond on a review: a reject with the text as message
    respond(sdk, thread, "chat_assistant", {"decisions": [{"type": "reject", "args": "No."}]})
    done = sdk.threads.get_state(thread)["values"]
    assert (done["decision"]["type"], done["decision"]["message"]) == ("reject", "No.")
    assert "sent" not in done and done["messages"][-1]["content"] == "OK, I did not send it."

    thread = until_review(sdk)  # Ignore on a review: it is not sent
    sdk.runs.join(
        thread,
        sdk.runs.create(
            thread,
            "chat_assistant",
            command={"resume": {"decisions": [{"type": "ignore", "args": None}]}},
        )["run_id"],
    )
    done = sdk.threads.get_state(thread)["values"]
    assert done["decision"]["type"] == "reject" and "sent" not in done


def test_a_response_is_validated_like_any_answer(
    sdk: Any, register_graphs: Any, graphs: Any
) -> None:
    register_graphs(graphs={"pick.yaml": PICK})
    thread = sdk.threads.create()["thread_id"]
    sdk.runs.wait(thread, "pick", input={})
    [listed] = inbox_listing(sdk, "pick")
    assert card_of(listed)["description"] == "Which size?\n\nAnswer with one of: small, large"

    outside = refused(lambda: respond(sdk, thread, "pick", [{"type": "response", "args": "huge"}]))
    assert outside.json()["errors"] == {"command.resume": ["must be one of: small, large"]}
    respond(sdk, thread, "pick", [{"type": "response", "args": "large"}])
    assert sdk.threads.get_state(thread)["values"]["size"] == "large"
