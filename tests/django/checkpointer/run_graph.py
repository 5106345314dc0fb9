"""Run a YAML graph with ``checkpointer: {type: django}`` in a fresh interpreter.

    python -m tests.django.checkpointer.run_graph GRAPH THREAD start [--async]
    python -m tests.django.checkpointer.run_graph GRAPH THREAD resume ANSWER [--async]

``start`` runs until the first interrupt and prints ``{"interrupt": [values]}``;
``resume`` answers it and prints ``{"state": {...}}`` (or the next interrupt).
DJANGO_SETTINGS_MODULE says which database holds the checkpoints; the only link
between two runs is that database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("graph")
    parser.add_argument("thread")
    parser.add_argument("phase", choices=["start", "resume"])
    parser.add_argument("answer", nargs="?")
    parser.add_argument("--async", dest="use_async", action="store_true")
    args = parser.parse_args()

    django.setup()  # the app's ready() registers `type: django`

    from langgraph.types import Command

    from yamlgraph.graph_loader import compile_graph, get_checkpointer_for_graph, load_graph_config

    config = load_graph_config(args.graph)
    saver = get_checkpointer_for_graph(config, async_mode=args.use_async)
    app = compile_graph(config).compile(checkpointer=saver)
    payload: Any = (
        {"topic": "checkpoints"} if args.phase == "start" else Command(resume=args.answer)
    )
    run_config = {"configurable": {"thread_id": args.thread}}
    if args.use_async:
        result = asyncio.run(app.ainvoke(payload, run_config))
    else:
        result = app.invoke(payload, run_config)
    if "__interrupt__" in result:
        report = {
            "interrupt": [item.value for item in result["__interrupt__"]],
            "saver": repr(saver),
        }
    else:
        report = {"state": result, "saver": repr(saver)}
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
