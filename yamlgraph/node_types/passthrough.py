"""`type: passthrough`: writes templated values (`_route` too, for conditional edges)."""

from __future__ import annotations

from typing import Any

from yamlgraph.config import GraphConfig, NodeConfig
from yamlgraph.node_types.base import ROUTE_KEY, NodeCheck, NodeType, mapping
from yamlgraph.nodes import NodeFunction, node_errors
from yamlgraph.templates import render


class PassthroughItem:
    """A passthrough on one map item: its rendered `output` is the item's result."""

    def __init__(self, sub: NodeConfig):
        self.output: dict[str, Any] = sub.get("output")

    def run(self, view: dict) -> Any:
        return {key: render(template, view) for key, template in self.output.items()}

    async def arun(self, view: dict) -> Any:
        return self.run(view)


class PassthroughNode(NodeType):
    name = "passthrough"
    summary = "writes templated values (`_route` too, for `type: conditional` edges)"
    keys = frozenset({"output"})
    in_map = True
    colours = ("#f3f4f6", "#6b7280")

    def check(self, ctx: NodeCheck) -> None:
        output = ctx.spec.get("output")
        if not isinstance(output, dict) or not output:
            ctx.add("a passthrough node needs 'output': {key: template}", "output")
            return
        for key, template in output.items():
            if key != ROUTE_KEY:  # a passthrough may choose a `type: conditional` edge
                ctx.writable_key(key, "output", key)
            ctx.templates(template, "output", key)

    def written_keys(self, node: NodeConfig) -> list[str]:
        return [k for k in mapping(node.get("output")) if k != ROUTE_KEY]

    def writes_route(self, node: NodeConfig) -> bool:
        return ROUTE_KEY in mapping(node.get("output"))

    def action(self, graph: GraphConfig, node: NodeConfig) -> NodeFunction:
        output: dict[str, Any] = node.get("output")

        @node_errors(node.name)
        def run(state: dict) -> dict:
            return {key: render(template, state) for key, template in output.items()}

        run.__name__ = node.name
        return run

    def item_runner(self, graph: GraphConfig, sub: NodeConfig) -> PassthroughItem:
        return PassthroughItem(sub)


NODE_TYPE = PassthroughNode()
