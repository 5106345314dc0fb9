"""`useStream` of `@langchain/react` 1.1 (the current React hook, on the thread-scoped
protocol: `/threads/{id}/commands` and `/threads/{id}/stream/events`) in Chromium: a
small page (tests/browser/react/page.jsx, bundled with esbuild; the `react_page`
fixture of tests/browser/conftest.py) drives the interview to
its end, and the approval graph's question, answering each question from the page.

The page is served from the live server's origin (Playwright answers its two URLs), so
it talks to /lg/ like an app deployed beside the API.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from yamlgraph_django.models import Session


def answer(tab: Any, question: str, value: str) -> None:
    try:
        tab.wait_for_function(
            "q => document.querySelector('#question').textContent.includes(q)", arg=question
        )
    except Exception:
        raise AssertionError(
            "\n".join(tab.requests) + "\n" + tab.inner_html("main") + "\n" + str(tab.errors)
        ) from None
    tab.fill("#answer", value)
    tab.click("#respond")


def test_use_stream_drives_the_interview_to_its_end(react_page: Any) -> None:
    tab = react_page("interview", {"topic": "Django"})
    tab.click("#start")
    answer(tab, "Hi! What is your name?", "Ada")
    answer(tab, "Thanks Ada. What do you want to achieve with Django?", "ship it")
    tab.wait_for_function(
        "() => document.querySelector('#values').textContent.includes('Summary: Ada wants')"
    )
    values = json.loads(tab.text_content("#values"))
    assert values["summary"] == "Summary: Ada wants to ship it."
    # The hook clears the answered question on the run's end, which may reach the page
    # just after the final values: the page must end with no question showing.
    tab.wait_for_function(
        "() => document.querySelector('#loading').textContent === 'idle'"
        " && document.querySelector('#question').textContent === ''"
    )
    thread_id = tab.text_content("#thread")
    session = Session.objects.get(thread_id=thread_id)  # the id the page made up
    assert session.status == "completed" and session.owner.username == "ada"
    assert tab.errors == []


def test_use_stream_answers_the_approval_question(react_page: Any) -> None:
    tab = react_page("approval", {"amount": 2500, "requester": "Grace"})
    tab.click("#start")
    answer(tab, "Approve Grace's expense of 2500", "yes")
    tab.wait_for_function(
        "() => JSON.parse(document.querySelector('#values').textContent).decision === 'yes'"
    )
    thread_id = tab.text_content("#thread")
    tab.wait_for_function("() => document.querySelector('#loading').textContent === 'idle'")
    assert Session.objects.get(thread_id=thread_id).status == "completed"
    assert tab.errors == []


@pytest.mark.parametrize("stream_delay", [0, 2], ids=["live", "slow-event-stream"])
def test_use_stream_opens_a_waiting_thread_and_answers_it(
    react_page: Any, monkeypatch: Any, stream_delay: float
) -> None:
    """A page opened on a thread that already waits (started elsewhere: the session
    service, as the admin or /api/ would) shows its question and takes the answer.

    The page shows the question from the thread's state (`tasks[].interrupts`) before
    `/stream/events` replays `input.requested`, and answers it by its id; with the event
    stream held back (`slow-event-stream`) the answer still goes through (CI once
    clicked inside that gap and the hook said "No pending interrupt")."""
    from yamlgraph_django.protocol import commands
    from yamlgraph_django.services import start_session

    stream_events = commands.StreamEventsView.post

    def delayed_stream_events(view: Any, request: Any, thread_id: str) -> Any:
        time.sleep(stream_delay)
        return stream_events(view, request, thread_id)

    monkeypatch.setattr(commands.StreamEventsView, "post", delayed_stream_events)
    session = start_session("interview", {"topic": "Django"}, owner=react_page.user)
    assert session.status == "interrupted"
    tab = react_page("interview", {}, session.thread_id)
    answer(tab, "Hi! What is your name?", "Ada")
    answer(tab, "Thanks Ada. What do you want to achieve with Django?", "ship it")
    tab.wait_for_function(
        "() => document.querySelector('#values').textContent.includes('Summary: Ada wants')"
    )
    session.refresh_from_db()
    assert session.status == "completed"
    assert tab.errors == []
