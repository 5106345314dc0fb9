"""The example graphs in graphs/ validate and run offline from start to end."""

from __future__ import annotations

import pytest
from langgraph.types import Command

from tests.yamlgraph.conftest import GRAPHS, compile_file, questions, thread
from yamlgraph.executor_async import load_and_compile_async, run_graph_async
from yamlgraph.graph_loader import load_graph_config
from yamlgraph.llm import FakeChatModel, set_model_factory


@pytest.mark.parametrize("path", sorted(GRAPHS.glob("*.yaml")), ids=lambda p: p.name)
def test_example_is_valid(path):
    config = load_graph_config(path)
    assert config.nodes and config.edges


def test_interview_asks_two_questions_and_summarizes():
    app = compile_file(GRAPHS / "interview.yaml")
    config = thread()
    paused = app.invoke({}, config)
    assert questions(paused) == ["Hi! What is your name?"]
    paused = app.invoke(Command(resume="Ada"), config)
    # the declared default for `topic` is used in the second question
    assert questions(paused) == ["Thanks Ada. What do you want to achieve with your project?"]
    done = app.invoke(Command(resume="ship the engine"), config)
    assert "__interrupt__" not in done
    assert done["summary"] == "Summary: Ada wants to ship the engine."
    assert (done["name"], done["goal"]) == ("Ada", "ship the engine")


def test_interview_with_a_topic():
    app = compile_file(GRAPHS / "interview.yaml")
    config = thread()
    app.invoke({"topic": "Django"}, config)
    paused = app.invoke(Command(resume="Bo"), config)
    assert questions(paused) == ["Thanks Bo. What do you want to achieve with Django?"]


async def test_interview_runs_with_the_async_api():
    app = await load_and_compile_async(GRAPHS / "interview.yaml")
    config = thread()
    assert questions(await run_graph_async(app, {}, config)) == ["Hi! What is your name?"]
    await run_graph_async(app, Command(resume="Ada"), config)
    done = await run_graph_async(app, Command(resume="learn"), config)
    assert done["summary"] == "Summary: Ada wants to learn."


def test_approval_small_amount_is_approved_without_a_person():
    done = compile_file(GRAPHS / "approval.yaml").invoke(
        {"amount": 40.0, "requester": "Bo"}, thread()
    )
    assert "__interrupt__" not in done
    assert (done["risk"], done["decision"], done["approved"]) == ("low", "auto", True)


@pytest.mark.parametrize(("answer", "approved"), [("yes", True), ("no", False), (True, True)])
def test_approval_large_amount_waits_for_the_approver(answer, approved):
    app = compile_file(GRAPHS / "approval.yaml")
    config = thread()
    paused = app.invoke({"amount": 250.0, "requester": "Bo"}, config)
    assert questions(paused) == [
        {
            "question": "Approve Bo's expense of 250.0?",
            "amount": 250.0,
            "risk": "high",
            "choices": ["yes", "no"],
        }
    ]
    done = app.invoke(Command(resume=answer), config)
    assert done["decision"] == answer
    assert done["approved"] is approved


def test_support_router_routes_billing_messages():
    done = compile_file(GRAPHS / "support_router.yaml").invoke(
        {"message": "I was charged twice"}, thread()
    )
    assert done["category"] == "billing"
    assert done["reply"] == "Billing will contact you about: I was charged twice"
    assert "__interrupt__" not in done


def test_support_router_bug_reports_ask_for_the_version():
    """The model factory hook (what YAMLGRAPH["LLM_FACTORY"] sets) scripts another answer."""
    set_model_factory(lambda **kwargs: FakeChatModel(["This looks like a bug."]))
    try:
        app = compile_file(GRAPHS / "support_router.yaml")
    finally:
        set_model_factory(None)
    config = thread()
    paused = app.invoke({"message": "it crashes"}, config)
    assert paused["category"] == "This looks like a bug."
    assert questions(paused) == ["Which version are you running?"]
    done = app.invoke(Command(resume="1.2.3"), config)
    assert done["version"] == "1.2.3"
    assert "reply" not in done
