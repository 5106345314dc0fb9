"""A project's own node type, all in this one module: `type: shout` writes a template
in capitals, with `times` exclamation marks.

    shout_it:
      type: shout
      text: "hello {state.name}"
      times: 2
      state_key: loud

Importing the module registers the type (as a project's `NODE_TYPES` module would);
`unregister()` takes it away again so other tests see only the built-ins.
"""

from __future__ import annotations

from typing import Any

from yamlgraph.config import GraphConfig, NodeConfig
from yamlgraph.node_types import register_node_type, unregister_node_type
from yamlgraph.node_types.base import NodeCheck, NodeType
from yamlgraph.templates import render


def shout(node: NodeConfig, view: dict) -> str:
    """The node's text rendered on `view`, in capitals, with its exclamation marks."""
    return str(render(node.get("text"), view)).upper() + "!" * node.get("times", 1)


class ShoutItem:
    """A shout on one map item."""

    def __init__(self, sub: NodeConfig):
        self.sub = sub

    def run(self, view: dict) -> Any:
        return shout(self.sub, view)

    async def arun(self, view: dict) -> Any:
        return self.run(view)


class ShoutNode(NodeType):
    name = "shout"
    summary = "writes a template in capitals"
    keys = frozenset({"text", "times", "state_key"})
    in_map = True
    mermaid_shape = (">", "]")
    colours = ("#fee2e2", "#b91c1c")

    def check(self, ctx: NodeCheck) -> None:
        if "text" not in ctx.spec:
            ctx.add("a shout node needs 'text' (a template)")
        ctx.templates(ctx.spec.get("text"), "text")
        times = ctx.spec.get("times", 1)
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            ctx.add("must be a whole number >= 1", "times")

    def written_keys(self, node: NodeConfig) -> list[str]:
        return [node.get("state_key", node.name)]

    def action(self, graph: GraphConfig, node: NodeConfig) -> Any:
        key = node.get("state_key", node.name)

        def run(state: dict) -> dict:
            return {key: shout(node, state)}

        run.__name__ = node.name
        return run

    def item_runner(self, graph: GraphConfig, sub: NodeConfig) -> ShoutItem:
        return ShoutItem(sub)


def register() -> NodeType:
    return register_node_type(ShoutNode(), replace=True)


def unregister() -> None:
    unregister_node_type(ShoutNode.name)


register()
