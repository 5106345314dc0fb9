"""DjangoSaver under real graphs: what it stores, what it deletes, whose transaction it joins."""

from __future__ import annotations

import operator
import time
import uuid
from typing import Annotated, Any, TypedDict

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.db.models import Max, Sum
from django.db.models.functions import Length
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from yamlgraph_django.checkpointer import DjangoSaver
from yamlgraph_django.checkpointer.models import CheckpointBlob, CheckpointRecord, CheckpointWrite

pytestmark = pytest.mark.django_db(transaction=True)

MODELS = (CheckpointRecord, CheckpointBlob, CheckpointWrite)
STEPS = 50
DOCUMENT = "".join(f"{n:05d} lorem ipsum dolor sit amet\n" for n in range(700))  # 23 KB


def thread(name: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": f"{name}-{uuid.uuid4()}"}, "recursion_limit": 500}


# -- a long session: storage grows with what changed -------------------------------


class LongState(TypedDict):
    items: Annotated[list[str], operator.add]
    document: str
    steps: int


def long_session(saver: DjangoSaver) -> Any:
    """One node looping STEPS times, appending a small item; `document` never changes."""

    def step(state: LongState) -> dict[str, Any]:
        return {"items": [f"item-{state['steps']:02d}"], "steps": state["steps"] + 1}

    graph = StateGraph(LongState)
    graph.add_node("step", step)
    graph.add_edge(START, "step")
    graph.add_conditional_edges("step", lambda s: END if s["steps"] >= STEPS else "step")
    return graph.compile(checkpointer=saver)


def stored_sizes(thread_id: str) -> dict[str, int]:
    blobs = CheckpointBlob.objects.filter(thread_id=thread_id).annotate(size=Length("blob"))
    checkpoints = CheckpointRecord.objects.filter(thread_id=thread_id)
    return {
        "checkpoints": checkpoints.count(),
        "document_blobs": blobs.filter(channel="document").count(),
        "blobs_as_large_as_the_document": blobs.filter(size__gte=len(DOCUMENT)).count(),
        "blob_bytes": blobs.aggregate(n=Sum("size"))["n"] or 0,
        "largest_checkpoint_row": checkpoints.aggregate(n=Max(Length("checkpoint")))["n"],
    }


def check_long_session(sizes: dict[str, int], values: dict[str, Any]) -> None:
    assert values["steps"] == STEPS
    assert values["items"] == [f"item-{n:02d}" for n in range(STEPS)]
    assert values["document"] == DOCUMENT
    assert sizes["checkpoints"] > STEPS  # one per step, plus the input
    # The 23 KB document is stored once in its channel, plus once inside the run's
    # input (LangGraph's __start__ channel), not once per checkpoint...
    assert sizes["document_blobs"] == 1, sizes
    assert sizes["blobs_as_large_as_the_document"] == 2, sizes
    # ...and the rest grows with what each step changed (the item list and a
    # counter): far below one copy of the state per step (50 x 23 KB = 1.1 MB).
    assert sizes["blob_bytes"] < 2 * len(DOCUMENT) + STEPS * 500, sizes
    # A checkpoint row holds versions only, never the values.
    assert sizes["largest_checkpoint_row"] < 2_000, sizes


def test_long_session_stores_unchanged_state_once(saver: DjangoSaver) -> None:
    app = long_session(saver)
    config = thread("long")
    app.invoke({"items": [], "document": DOCUMENT, "steps": 0}, config)

    sizes = stored_sizes(config["configurable"]["thread_id"])
    check_long_session(sizes, app.get_state(config).values)


async def test_long_session_stores_unchanged_state_once_async(saver: DjangoSaver) -> None:
    app = long_session(saver)
    config = thread("long-async")
    await app.ainvoke({"items": [], "document": DOCUMENT, "steps": 0}, config)

    sizes = await sync_to_async(stored_sizes)(config["configurable"]["thread_id"])
    check_long_session(sizes, (await app.aget_state(config)).values)


# -- subgraphs: checkpoints in child namespaces ----------------------------------------


class InterviewState(TypedDict):
    question: str
    answer: str


class OuterState(TypedDict):
    question: str
    answer: str
    done: bool


def with_subgraph(saver: DjangoSaver) -> Any:
    """START -> interview (a subgraph that interrupts) -> finish -> END."""

    def ask(state: InterviewState) -> dict[str, Any]:
        return {"answer": interrupt(state["question"])}

    inner = StateGraph(InterviewState)
    inner.add_node("ask", ask)
    inner.add_edge(START, "ask")
    inner.add_edge("ask", END)

    outer = StateGraph(OuterState)
    outer.add_node("interview", inner.compile())
    outer.add_node("finish", lambda state: {"done": True})
    outer.add_edge(START, "interview")
    outer.add_edge("interview", "finish")
    outer.add_edge("finish", END)
    return outer.compile(checkpointer=saver)


def test_an_interrupt_inside_a_subgraph_resumes(saver: DjangoSaver) -> None:
    app = with_subgraph(saver)
    config = thread("subgraph")
    paused = app.invoke({"question": "Your name?", "answer": "", "done": False}, config)
    assert [item.value for item in paused["__interrupt__"]] == ["Your name?"]

    thread_id = config["configurable"]["thread_id"]
    namespaces = set(
        CheckpointRecord.objects.filter(thread_id=thread_id).values_list("checkpoint_ns", flat=True)
    )
    assert "" in namespaces and any(ns.startswith("interview:") for ns in namespaces)
    [task] = app.get_state(config, subgraphs=True).tasks
    assert task.state.values["question"] == "Your name?"

    finished = app.invoke(Command(resume="Ada"), config)
    assert finished == {"question": "Your name?", "answer": "Ada", "done": True}


# -- delete_thread -----------------------------------------------------------------


class AskState(TypedDict):
    topic: str
    answer: str


def asking(saver: DjangoSaver) -> Any:
    """START -> ask (interrupts for an answer) -> END."""

    def ask(state: AskState) -> dict[str, Any]:
        return {"answer": interrupt(f"What about {state['topic']}?")}

    graph = StateGraph(AskState)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph.compile(checkpointer=saver)


def rows_of(thread_id: str) -> dict[str, int]:
    return {model.__name__: model.objects.filter(thread_id=thread_id).count() for model in MODELS}


def test_delete_thread_removes_every_row_of_that_thread_only(saver: DjangoSaver) -> None:
    app = asking(saver)
    doomed, kept = thread("doomed"), thread("kept")
    for config in (doomed, kept):
        assert "__interrupt__" in app.invoke({"topic": "storage", "answer": ""}, config)
    doomed_id, kept_id = doomed["configurable"]["thread_id"], kept["configurable"]["thread_id"]
    kept_before = rows_of(kept_id)
    assert all(rows_of(doomed_id).values()) and all(kept_before.values())  # every table used

    saver.delete_thread(doomed_id)

    assert rows_of(doomed_id) == {model.__name__: 0 for model in MODELS}
    assert app.get_state(doomed).values == {}
    assert rows_of(kept_id) == kept_before
    assert app.invoke(Command(resume="kept"), kept)["answer"] == "kept"


async def test_adelete_thread_removes_every_row_of_that_thread_only(saver: DjangoSaver) -> None:
    app = asking(saver)
    doomed, kept = thread("doomed"), thread("kept")
    for config in (doomed, kept):
        assert "__interrupt__" in await app.ainvoke({"topic": "storage", "answer": ""}, config)
    doomed_id, kept_id = doomed["configurable"]["thread_id"], kept["configurable"]["thread_id"]
    kept_before = await sync_to_async(rows_of)(kept_id)

    await saver.adelete_thread(doomed_id)

    assert await sync_to_async(rows_of)(doomed_id) == {model.__name__: 0 for model in MODELS}
    assert await sync_to_async(rows_of)(kept_id) == kept_before
    assert (await app.ainvoke(Command(resume="kept"), kept))["answer"] == "kept"


def postgres_sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="counts Postgres sessions")
def test_sync_runs_leave_no_database_sessions_behind(saver: DjangoSaver) -> None:
    """LangGraph's worker threads' connections close when the threads end, run after run."""
    app = asking(saver)
    before = postgres_sessions()
    for _ in range(3):
        config = thread("sessions")
        app.invoke({"topic": "connections", "answer": ""}, config)
        app.invoke(Command(resume="closed"), config)

    deadline = time.monotonic() + 5
    while postgres_sessions() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert postgres_sessions() <= before


# -- the caller's transaction ----------------------------------------------------------


def test_sync_calls_join_the_callers_transaction(saver: DjangoSaver) -> None:
    """A put inside a rolled-back atomic block is rolled back with it, like any ORM write."""
    config = {"configurable": {"thread_id": f"tx-{uuid.uuid4()}", "checkpoint_ns": ""}}
    checkpoint = empty_checkpoint()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        saver.put(config, checkpoint, {"source": "input", "step": -1}, {})
        assert saver.get_tuple(config) is not None
        raise Abort

    assert saver.get_tuple(config) is None


def test_too_long_thread_id_is_refused_with_its_limit(saver: DjangoSaver) -> None:
    config = {"configurable": {"thread_id": "t" * 256, "checkpoint_ns": ""}}
    with pytest.raises(ValueError, match="thread_id longer than 255"):
        saver.put(config, empty_checkpoint(), {}, {})
