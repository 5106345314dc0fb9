"""DjangoSaver under real graphs: what it stores, what it deletes, whose transaction it joins."""

from __future__ import annotations

import operator
import uuid
from typing import Annotated, Any, TypedDict

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Length
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from yamlgraph_django.checkpointer import DjangoSaver
from yamlgraph_django.checkpointer.models import CheckpointBlob, CheckpointRecord, CheckpointWrite

pytestmark = pytest.mark.django_db(transaction=True)

MODELS = (CheckpointRecord, CheckpointBlob, CheckpointWrite)
STEPS = 50
DOCUMENT = "".join(f"{n:05d} lorem ipsum dolor sit amet\n" for n in range(700))  # ~22 KB


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
    blobs = CheckpointBlob.objects.filter(thread_id=thread_id)
    return {
        "checkpoints": CheckpointRecord.objects.filter(thread_id=thread_id).count(),
        "document_blobs": blobs.filter(channel="document").count(),
        "blob_bytes": blobs.aggregate(n=Sum(Length("blob")))["n"] or 0,
        "largest_checkpoint_row": max(
            len(row)
            for row in CheckpointRecord.objects.filter(thread_id=thread_id).values_list(
                "checkpoint", flat=True
            )
        ),
    }


def check_long_session(sizes: dict[str, int], values: dict[str, Any]) -> None:
    assert values["steps"] == STEPS
    assert values["items"] == [f"item-{n:02d}" for n in range(STEPS)]
    assert values["document"] == DOCUMENT
    assert sizes["checkpoints"] > STEPS  # one per step, plus the input
    # The 22 KB document is stored once, not once per checkpoint...
    assert sizes["document_blobs"] == 1
    # ...and the rest grows with what each step changed (a short item and a counter):
    # far below one copy of the state per step (50 x 22 KB = 1.1 MB).
    assert sizes["blob_bytes"] < len(DOCUMENT) + STEPS * 1_000, sizes
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
