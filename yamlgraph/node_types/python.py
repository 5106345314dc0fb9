"""`type: python`: calls a python tool with the state (plus its rendered `variables`)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from yamlgraph.config import PRIVATE_KEYS, GraphConfig, NodeConfig
from yamlgraph.error_policy import ErrorPolicy
from yamlgraph.errors import GraphRuntimeError, did_you_mean
from yamlgraph.graph_tools import load_tool_function
from yamlgraph.node_types.base import ERRORS_KEY, ROUTE_KEY, NodeCheck, NodeType
from yamlgraph.nodes import NodeFunction, node_errors, node_policy
from yamlgraph.templates import render


def python_result(graph: GraphConfig, node: NodeConfig, result: Any) -> dict[str, Any]:
    """Turn a tool's return value into a state update, refusing keys the state lacks.

    As in yamlgraph 0.6.5, a dict is a state update (even with `state_key`); any other
    value goes to `state_key`.
    """
    key = node.get("state_key")
    if key and not isinstance(result, Mapping):
        return {key: result}
    if result is None:
        return {}
    if not isinstance(result, Mapping):
        raise GraphRuntimeError(
            node.name,
            f"tool returned {type(result).__name__}; return a dict of state updates"
            " or set 'state_key' on the node",
        )
    unknown = sorted(
        k for k in result if k != ROUTE_KEY and (k not in graph.state or k in PRIVATE_KEYS)
    )
    if unknown:
        names = ", ".join(f"'{k}'" for k in unknown)
        raise GraphRuntimeError(
            node.name,
            f"tool returned undeclared state key(s) {names}; declare them under 'state:'",
        )
    return dict(result)


def python_view(node: NodeConfig, state: Mapping[str, Any]) -> dict:
    """The state a python tool receives: the state plus the node's rendered `variables`."""
    variables = node.get("variables")
    return {**state, **render(variables, state)} if variables else dict(state)


def current_store() -> Any:
    """The LangGraph store of the running graph, or None when it was compiled without."""
    from langgraph.config import get_store

    try:
        return get_store()
    except RuntimeError:
        return None


def takes_store(function: Any) -> bool:
    """Does a python tool take a `store` parameter (LangGraph's long-term store)?"""
    try:
        return "store" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


class PythonItem:
    """A python tool run on one map item; its return value is the item's result."""

    def __init__(self, graph: GraphConfig, sub: NodeConfig):
        self.sub = sub
        self.function = load_tool_function(graph.tools[sub.get("tool")])

    def run(self, view: dict) -> Any:
        policy = ErrorPolicy(self.sub.name, self.sub.options)
        return policy.run(lambda _: self.function(python_view(self.sub, view)), None)

    async def arun(self, view: dict) -> Any:
        return self.run(view)


class PythonNode(NodeType):
    name = "python"
    summary = "calls a python tool with the state (plus its rendered `variables`)"
    keys = frozenset({"tool", "state_key", "variables", "requires", "on_error"})
    on_error_values = ("skip", "fail")
    in_map = True
    mermaid_shape = ("[[", "]]")
    colours = ("#dcfce7", "#16a34a")

    def check(self, ctx: NodeCheck) -> None:
        tool = ctx.spec.get("tool")
        config = ctx.config
        if not tool:
            ctx.add("a python node needs 'tool' (a name under 'tools:')")
        elif not isinstance(tool, str):
            ctx.add("must be the name of an entry under 'tools:'", "tool")
        elif not ctx.tool_declared(tool):
            ctx.add(f"unknown tool '{tool}'{did_you_mean(tool, set(config.tools))}", "tool")
        elif tool in config.tools and config.tools[tool].kind != "python":
            ctx.add(
                f"tool '{tool}' is a shell tool; a python node needs a"
                " python tool (use an agent or tool_call node for shell tools)",
                "tool",
            )

    def written_keys(self, node: NodeConfig) -> list[str]:
        errors = [ERRORS_KEY] if node.get("on_error") == "skip" else []
        return ([node.get("state_key")] if node.get("state_key") else []) + errors

    def writes_route(self, node: NodeConfig) -> bool:
        return True

    def action(self, graph: GraphConfig, node: NodeConfig) -> NodeFunction:
        function = load_tool_function(graph.tools[node.get("tool")])
        policy = ErrorPolicy(node.name, node.options)
        with_store = takes_store(function)

        @node_errors(node.name)
        @node_policy(node, node.get("state_key"))
        def run(state: dict) -> dict:
            # A tool that asks for `store` gets the store the graph was compiled with
            # (None without one).
            extra = {"store": current_store()} if with_store else {}

            def attempt(_model: Any) -> dict:
                return python_result(graph, node, function(python_view(node, state), **extra))

            return policy.run(attempt, None)

        run.__name__ = node.name
        return run

    def item_runner(self, graph: GraphConfig, sub: NodeConfig) -> PythonItem:
        return PythonItem(graph, sub)


NODE_TYPE = PythonNode()
