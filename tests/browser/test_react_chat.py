"""The chat example (graphs/chat_assistant.yaml) in Chromium through both React hooks,
`useStream` of @langchain/react (the thread-scoped protocol) and the legacy one of
@langchain/langgraph-sdk/react (runs): a small chat page (tests/browser/react/chat.jsx)
holds the conversation, answers the plain question with the next message, shows the
review question's buttons, and Approve takes the graph to its end."""

from __future__ import annotations

from typing import Any

import pytest

from yamlgraph_django.models import Session

GREETING = "Hello! I can draft an e-mail to the team and send it once you approve."
QUESTION = "What should the e-mail say?"


def said(tab: Any) -> list[tuple[str, str]]:
    """The conversation the page shows, as (type, text)."""
    return [
        (item.get_attribute("class"), item.text_content())
        for item in tab.query_selector_all("#messages li")
    ]


def wait_for(tab: Any, script: str, arg: Any = None) -> None:
    try:
        tab.wait_for_function(script, arg=arg)
    except Exception:
        raise AssertionError(
            "\n".join(tab.requests) + "\n" + tab.inner_html("main") + "\n" + str(tab.errors)
        ) from None


def send(tab: Any, text: str) -> None:
    wait_for(tab, "() => document.querySelector('#loading').textContent === 'idle'")
    tab.fill("#message", text)
    tab.click("#send")


@pytest.mark.parametrize("hook", ["react", "legacy"])
def test_chat_example_to_its_end(react_page: Any, hook: str) -> None:
    tab = react_page("chat_assistant", page="chat", hook=hook)
    send(tab, "Hi there")
    wait_for(tab, "q => document.querySelector('#messages').textContent.includes(q)", QUESTION)
    assert said(tab)[-3:] == [("human", "Hi there"), ("ai", GREETING), ("ai", QUESTION)]

    send(tab, "Lunch is at noon.")  # answers the plain question: the run resumes
    wait_for(tab, "() => document.querySelector('#review') !== null")
    assert tab.text_content("#review-description") == "Send this e-mail to team@example.com?"
    assert "Lunch is at noon." in tab.text_content("#review-args")
    buttons = [b.text_content() for b in tab.query_selector_all("#review button")]
    assert buttons == ["Approve", "Edit", "Reject"]

    tab.click("#decision-approve")
    wait_for(
        tab,
        "() => document.querySelector('#messages').textContent.includes('the e-mail is sent')",
    )
    wait_for(tab, "() => document.querySelector('#review') === null")
    conversation = said(tab)
    if hook == "react":
        # @langchain/react also keeps what a model call outside the conversation streamed
        # (the `write` node's draft, which the fake model echoes), as against LangGraph's
        # own server: it reconciles `values.messages` but keeps streamed-only messages.
        assert conversation.count(("ai", "Lunch is at noon.")) == 1
        conversation.remove(("ai", "Lunch is at noon."))
    assert conversation == [
        ("human", "Hi there"),
        ("ai", GREETING),
        ("ai", QUESTION),
        ("human", "Lunch is at noon."),
        ("ai", "Done: the e-mail is sent."),
    ]
    session = Session.objects.get(thread_id=tab.text_content("#thread"))
    wait_for(tab, "() => document.querySelector('#loading').textContent === 'idle'")
    session.refresh_from_db()
    assert session.status == "completed" and session.owner.username == "ada"
    assert session.output["sent"]["body"] == "Lunch is at noon."
    assert tab.errors == [] and tab.text_content("#error") == ""
