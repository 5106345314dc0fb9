"""The seed's async API: compile with an async-capable checkpointer and run."""

from __future__ import annotations

from os import PathLike
from typing import Any

from langchain_core.runnables import RunnableConfig

from yamlgraph.graph_loader import compile_graph, get_checkpointer_for_graph, load_graph_config


async def load_and_compile_async(path: str | PathLike, checkpointer: Any = None):
    """Compile a graph file with its async checkpointer, created inside the running loop.

    A graph without a `checkpointer:` block gets an in-memory saver, because interrupts
    cannot pause without one.
    """
    config = load_graph_config(path)
    if checkpointer is None:
        checkpointer = get_checkpointer_for_graph(config, async_mode=True)
    if checkpointer is None:
        from langgraph.checkpoint.memory import InMemorySaver

        checkpointer = InMemorySaver()
    return compile_graph(config).compile(checkpointer=checkpointer)


async def run_graph_async(app: Any, input: Any, config: RunnableConfig | None = None) -> Any:
    """Run until the end or the next interrupt; the result carries `__interrupt__` if paused."""
    return await app.ainvoke(input, config)
