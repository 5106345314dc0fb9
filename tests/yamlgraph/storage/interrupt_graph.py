"""A tiny human-in-the-loop graph, run as a separate process by the storage tests.

    python -m tests.yamlgraph.storage.interrupt_graph CONFIG_JSON start MODE:THREAD...
    python -m tests.yamlgraph.storage.interrupt_graph CONFIG_JSON resume MODE:THREAD... --answer A

MODE is ``sync`` (a sync saver, ``invoke``) or ``async`` (an async saver,
``ainvoke``). ``start`` runs each session until the interrupt
(``{"interrupt": [<question>]}``); ``resume`` answers it (``{"state": ...}``).
The output is one JSON object, MODE:THREAD -> result. Each run is a fresh
interpreter, so the only link between the two is the checkpointer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from yamlgraph.storage import aclose_checkpointer, close_checkpointer, get_checkpointer


class State(TypedDict):
    topic: str
    name: str
    greeting: str


def ask(state: State) -> dict[str, Any]:
    name = interrupt({"question": f"Who is asking about {state['topic']}?"})
    return {"name": name}


def greet(state: State) -> dict[str, Any]:
    return {"greeting": f"Hello {state['name']}, let's talk about {state['topic']}."}


def build() -> StateGraph:
    graph = StateGraph(State)
    graph.add_node("ask", ask)
    graph.add_node("greet", greet)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", "greet")
    graph.add_edge("greet", END)
    return graph


def _input(phase: str, answer: str | None) -> Any:
    if phase == "start":
        return {"topic": "checkpoints", "name": "", "greeting": ""}
    return Command(resume=answer)


def _report(result: dict[str, Any]) -> dict[str, Any]:
    if "__interrupt__" in result:
        return {"interrupt": [item.value for item in result["__interrupt__"]]}
    return {"state": result}


def run_sync(config: dict[str, Any], thread: str, phase: str, answer: str | None) -> dict[str, Any]:
    saver = get_checkpointer(config)
    try:
        app = build().compile(checkpointer=saver)
        return _report(app.invoke(_input(phase, answer), {"configurable": {"thread_id": thread}}))
    finally:
        close_checkpointer(saver)


async def run_async(
    config: dict[str, Any], thread: str, phase: str, answer: str | None
) -> dict[str, Any]:
    saver = get_checkpointer(config, async_mode=True)
    try:
        app = build().compile(checkpointer=saver)
        result = await app.ainvoke(_input(phase, answer), {"configurable": {"thread_id": thread}})
        return _report(result)
    finally:
        await aclose_checkpointer(saver)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("phase", choices=["start", "resume"])
    parser.add_argument("sessions", nargs="+", metavar="MODE:THREAD")
    parser.add_argument("--answer")
    args = parser.parse_args(argv)
    config = json.loads(args.config)
    out: dict[str, Any] = {}
    for session in args.sessions:
        mode, _, thread = session.partition(":")
        if mode == "async":
            out[session] = asyncio.run(run_async(config, thread, args.phase, args.answer))
        else:
            out[session] = run_sync(config, thread, args.phase, args.answer)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
