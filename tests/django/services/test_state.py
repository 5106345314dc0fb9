"""get_state and get_history: what a person inspecting a session sees."""

from __future__ import annotations

import datetime as dt

import pytest

from yamlgraph_django.exceptions import CheckpointerUnavailable, InvalidInput, SessionNotFound
from yamlgraph_django.services import get_history, get_state, resume_session, start_session

pytestmark = pytest.mark.django_db


def test_state_shows_public_values_next_node_and_question(graphs):
    session = start_session("interview", {"topic": "Django"})
    resume_session(session, "Ada")

    state = get_state(session)

    assert state["values"] == {
        "topic": "Django",
        "name": "Ada",
        "name_question": "Hi! What is your name?",
        "goal_question": "Thanks Ada. What do you want to achieve with Django?",
    }
    assert not any(key.startswith("_") for key in state["values"])
    assert state["next"] == ["ask_goal"]
    assert state["interrupts"] == session.interrupts
    assert state["checkpoint_id"]
    assert isinstance(state["created_at"], dt.datetime)


def test_state_of_a_finished_session(graphs):
    session = start_session("approval", {"amount": 5, "requester": "A"})

    state = get_state(session.pk)

    assert state["next"] == []
    assert state["interrupts"] == []
    assert state["values"] == session.output


def test_history_is_newest_first_with_the_nodes_that_wrote(graphs):
    session = start_session("interview")
    resume_session(session, "Ada")
    resume_session(session, "win")

    history = get_history(session)

    steps = [entry["step"] for entry in history]
    assert steps == sorted(steps, reverse=True)
    # input, defaults (interview declares `topic: {default: ...}`), 2 x (prompt, answer), summary
    assert steps[0] == 6 and steps[-1] == -1
    newest = history[0]
    assert newest["nodes"] == ["summarize"]
    assert newest["next"] == []
    assert newest["source"] == "loop"
    assert history[-1]["source"] == "input"
    assert history[-1]["nodes"] == []
    # Engine helper nodes appear under the YAML node's name.
    all_names = {n for e in history for n in e["nodes"] + e["next"]}
    assert all_names == {"START", "ask_name", "ask_goal", "summarize"}
    waiting = [e for e in history if e["interrupts"]]
    assert [e["interrupts"][0]["value"] for e in waiting] == [
        "Thanks Ada. What do you want to achieve with your project?",
        "Hi! What is your name?",
    ]
    assert all(e["parent_checkpoint_id"] for e in history[:-1])
    assert all(isinstance(e["created_at"], dt.datetime) for e in history)


def test_history_pages_with_limit_and_before(graphs):
    session = start_session("interview")
    resume_session(session, "Ada")
    everything = get_history(session, limit=100)

    first = get_history(session, limit=2)
    second = get_history(session, limit=2, before=first[-1]["checkpoint_id"])

    assert first == everything[:2]
    assert second == everything[2:4]
    assert second[-1]["nodes"] == everything[3]["nodes"]  # writers of a page's last entry


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 1001}, {"limit": "5"}, {"before": ""}])
def test_history_arguments_are_checked(graphs, kwargs):
    session = start_session("interview")

    with pytest.raises(InvalidInput):
        get_history(session, **kwargs)


def test_unknown_session_and_unreachable_store(graphs, store_down):
    with pytest.raises(SessionNotFound):
        get_state("00000000-0000-0000-0000-000000000000")
    session = start_session("interview")

    with store_down:
        with pytest.raises(CheckpointerUnavailable):
            get_state(session.pk)
        with pytest.raises(CheckpointerUnavailable):
            get_history(session)
