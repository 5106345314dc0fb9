"""`type: map`: a sub-node run once per item of a list, in parallel, collected in order.

Which types a map may run is the registry's business: every type with `in_map` gives
an item runner (`NodeType.item_runner`), so this module knows none of them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable

from yamlgraph.config import GraphConfig, NodeConfig
from yamlgraph.error_policy import NodeSkipped
from yamlgraph.errors import GraphRuntimeError
from yamlgraph.node_types.base import ERROR_KEYS, ERRORS_KEY, NodeCheck, NodeType, mapping
from yamlgraph.nodes import node_errors, node_policy
from yamlgraph.templates import render


def map_item_types() -> set[str]:
    """The node types a map may run once per item."""
    from yamlgraph.node_types import node_types

    return {name for name, kind in node_types().items() if kind.in_map}


def item_node(node: NodeConfig) -> NodeConfig:
    """The map's `node:` as a node of its own; the map's on_error applies to every item."""
    spec = dict(node.get("node"))
    for key in ERROR_KEYS:
        if key in node.options and key not in spec:
            spec[key] = node.options[key]
    return NodeConfig(name=node.name, type=spec.get("type", "llm"), options=spec)


def build_map(graph: GraphConfig, node: NodeConfig) -> RunnableCallable:
    """Run the sub-node once per item, concurrently, and collect the results in order.

    Each item runs as a LangGraph task, so finished items are checkpointed: an item that
    pauses (an interrupt sub-node, or an agent whose tool asks a person) resumes alone,
    and the others are not run again. With on_error: skip a failed item is left out of
    the collection and recorded in `errors`.
    """
    from langgraph.func import task

    from yamlgraph.node_types import get_node_type

    item_name: str = node.get("as")
    collect = node.get("collect", node.name)
    over = node.get("over")
    sub = item_node(node)
    runner = get_node_type(sub.type).item_runner(graph, sub)

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


class MapNode(NodeType):
    name = "map"
    summary = "runs a sub-node once per item, in parallel, and collects the results in order"
    keys = frozenset({"over", "as", "node", "collect", "requires"}) | ERROR_KEYS
    mermaid_shape = ("[(", ")]")
    colours = ("#fce7f3", "#db2777")

    def check(self, ctx: NodeCheck) -> None:
        from yamlgraph.config import parse_node

        spec = ctx.spec
        for key in ("over", "as", "node"):
            if key not in spec:
                ctx.add(f"a map node needs '{key}'")
        ctx.templates(spec.get("over"), "over")
        sub = spec.get("node")
        if isinstance(sub, dict):
            sub_type = sub.get("type", "llm")
            allowed = map_item_types()
            if not isinstance(sub_type, str) or sub_type not in allowed:
                ctx.add(
                    f"a map can run {', '.join(sorted(allowed))} nodes, not '{sub_type}'",
                    "node",
                    "type",
                )
            else:
                parse_node(
                    f"{ctx.name}_item", sub, (*ctx.path, "node"), ctx.config, ctx.issues, True
                )
        elif sub is not None:
            ctx.add("must be a node mapping with a 'type'", "node")

    def written_keys(self, node: NodeConfig) -> list[str]:
        errors = [ERRORS_KEY] if node.get("on_error") == "skip" else []
        sub = mapping(node.get("node"))
        return [node.get("collect", node.name), *errors] + (
            [ERRORS_KEY] if sub.get("on_error") == "skip" else []
        )

    def action(self, graph: GraphConfig, node: NodeConfig) -> RunnableCallable:
        return build_map(graph, node)


NODE_TYPE = MapNode()
