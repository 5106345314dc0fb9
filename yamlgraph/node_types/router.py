"""`type: router`: like `llm`, then sets `state._route` to the target its answer names."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable

from yamlgraph.config import GraphConfig, NodeConfig
from yamlgraph.errors import GraphRuntimeError
from yamlgraph.node_types.base import ERROR_KEYS, ROUTE_KEY, NodeCheck, mapping
from yamlgraph.node_types.llm import LlmNode
from yamlgraph.nodes import PromptedModel, node_errors, node_policy


def choose_route(node: NodeConfig, answer: Any) -> str:
    """Map a router's answer to a target node: exact label, then a label inside the text.

    With `route_field`, the label is that field of a JSON answer (yamlgraph 0.6.5).
    """
    routes: dict[str, str] = node.get("routes") or {}
    field_name = node.get("route_field")
    if isinstance(answer, dict) and field_name:
        answer = answer.get(field_name) or ""
    elif isinstance(answer, dict):
        answer = answer.get("route") or answer.get("intent") or answer.get("label") or ""
    text = str(answer).strip().strip("\"'.").lower()
    by_label = {str(label).lower(): target for label, target in routes.items()}
    if text in by_label:
        return by_label[text]
    for label, target in by_label.items():
        if label and label in text:
            return target
    default = node.get("default_route")
    if default is not None:
        return routes.get(default, default)
    raise GraphRuntimeError(
        node.name,
        f"answer {str(answer)[:80]!r} matches none of the routes {sorted(routes)}"
        " and there is no default_route",
    )


class RouterNode(LlmNode):
    name = "router"
    summary = "like `llm`, then sets `state._route` from `routes`"
    keys = LlmNode.keys | ERROR_KEYS | {"routes", "default_route", "route_field"}
    mermaid_shape = ("{", "}")
    colours = ("#ede9fe", "#7c3aed")
    converses = False

    def check(self, ctx: NodeCheck) -> None:
        super().check(ctx)
        routes = ctx.spec.get("routes")
        if not isinstance(routes, dict) or not routes:
            ctx.add("a router needs 'routes': {answer: node}", "routes")

    def writes_route(self, node: NodeConfig) -> bool:
        return True

    def routes(self, node: NodeConfig) -> dict[Any, Any]:
        return dict(mapping(node.get("routes")))

    def action(self, graph: GraphConfig, node: NodeConfig) -> RunnableCallable:
        model = PromptedModel(graph, node)
        key = node.get("state_key", node.name)
        field_name = node.get("route_field")

        def update(answer: Any) -> dict:
            # with route_field, yamlgraph 0.6.5 stores the label itself under state_key
            stored = answer.get(field_name) if field_name and isinstance(answer, dict) else answer
            return {key: stored, ROUTE_KEY: choose_route(node, answer)}

        @node_errors(node.name)
        @node_policy(node, key)
        def run(state: dict, config: RunnableConfig) -> dict:
            return update(model.ask(state, config))

        @node_errors(node.name)
        @node_policy(node, key)
        async def arun(state: dict, config: RunnableConfig) -> dict:
            return update(await model.aask(state, config))

        return RunnableCallable(run, arun, name=node.name)


NODE_TYPE = RouterNode()
