"""`type: map`: a sub-node run once per item of a list, in parallel, collected in order."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable
from langgraph.types import interrupt

from yamlgraph.config import ERROR_KEYS, ERRORS_KEY, GraphConfig, NodeConfig
from yamlgraph.error_policy import ErrorPolicy, NodeSkipped
from yamlgraph.errors import GraphRuntimeError
from yamlgraph.graph_tools import load_tool_function
from yamlgraph.nodes import (
    PromptedModel,
    node_errors,
    node_policy,
    python_view,
    tool_call_result,
)
from yamlgraph.templates import render


class ItemSkipped(NodeSkipped):
    """A map item whose agent already recorded why it skipped."""

    def __init__(self, record: dict[str, str]):
        Exception.__init__(self, record.get("message", ""))
        self.saved = record

    def record(self) -> dict[str, str]:
        return self.saved


class MapItem:
    """How a map node runs its sub-node on one item (the item is in the view under `as`)."""

    def __init__(self, graph: GraphConfig, node: NodeConfig):
        spec = dict(node.get("node"))
        for key in ERROR_KEYS:  # the map's on_error applies to every item
            if key in node.options and key not in spec:
                spec[key] = node.options[key]
        self.sub = NodeConfig(name=node.name, type=spec.get("type", "llm"), options=spec)
        self.graph = graph
        self.model = PromptedModel(graph, self.sub) if self.sub.type in {"llm", "router"} else None
        self.agent = None
        if self.sub.type == "agent":
            from yamlgraph.agent import build_agent

            self.agent = functools.partial(build_agent, graph, self.sub)
        self.function = (
            load_tool_function(graph.tools[self.sub.get("tool")])
            if self.sub.type == "python"
            else None
        )

    def run(self, view: dict) -> Any:
        sub = self.sub
        if self.model is not None:
            return self.model.ask(view)
        if self.function is not None:
            policy = ErrorPolicy(sub.name, sub.options)
            return policy.run(lambda _: self.function(python_view(sub, view)), None)
        if sub.type == "tool_call":
            return tool_call_result(self.graph, sub, view)
        if sub.type == "interrupt":
            return interrupt(render(sub.get("message"), view))
        if self.agent is not None:  # a fresh agent per item: its own turns and tool calls
            return self.agent_value(self.agent().invoke(view))
        return {key: render(t, view) for key, t in sub.get("output").items()}

    def agent_value(self, update: dict) -> Any:
        """An agent item's answer; a skipped agent skips the item."""
        if update.get(ERRORS_KEY):
            raise ItemSkipped(update[ERRORS_KEY][0])
        return update.get(self.sub.get("state_key", self.sub.name))

    async def arun(self, view: dict) -> Any:
        if self.model is not None:
            return await self.model.aask(view)
        if self.agent is not None:
            return self.agent_value(await self.agent().ainvoke(view))
        return self.run(view)


def build_map(graph: GraphConfig, node: NodeConfig) -> RunnableCallable:
    """Run the sub-node once per item, concurrently, and collect the results in order.

    Each item runs as a LangGraph task, so finished items are checkpointed: an item that
    pauses (an interrupt sub-node, or an agent whose tool asks a person) resumes alone,
    and the others are not run again. With on_error: skip a failed item is left out of
    the collection and recorded in `errors`.
    """
    from langgraph.func import task

    item_name: str = node.get("as")
    collect = node.get("collect", node.name)
    over = node.get("over")
    runner = MapItem(graph, node)

    def items(state: dict) -> list[Any]:
        value = render(over, state)
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            raise GraphRuntimeError(node.name, f"'over' gave {type(value).__name__}, not a list")
        return list(value)

    def item_view(state: dict, item: Any) -> dict:
        view = dict(state)
        view[item_name] = item
        return view

    def one(view: dict) -> dict:
        try:
            return {"value": runner.run(view)}
        except NodeSkipped as exc:
            return {"skipped": exc.record()}

    async def aone(view: dict) -> dict:
        try:
            return {"value": await runner.arun(view)}
        except NodeSkipped as exc:
            return {"skipped": exc.record()}

    item_task = task(name=f"{node.name}:item")(one)
    aitem_task = task(name=f"{node.name}:item")(aone)

    def collected(outcomes: list[dict]) -> dict:
        update: dict[str, Any] = {collect: [o["value"] for o in outcomes if "value" in o]}
        skipped = [o["skipped"] for o in outcomes if "skipped" in o]
        if skipped:
            update[ERRORS_KEY] = skipped
        return update

    @node_errors(node.name)
    @node_policy(node, None)
    def run(state: dict, config: RunnableConfig) -> dict:
        futures = [item_task(item_view(state, item)) for item in items(state)]
        return collected([future.result() for future in futures])

    @node_errors(node.name)
    @node_policy(node, None)
    async def arun(state: dict, config: RunnableConfig) -> dict:
        views = [item_view(state, item) for item in items(state)]
        return collected(list(await asyncio.gather(*(aitem_task(v) for v in views))))

    return RunnableCallable(run, arun, name=node.name)
