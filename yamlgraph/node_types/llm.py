"""`type: llm`: renders a prompt, asks the chat model, stores the text (or parsed JSON)."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable

from yamlgraph.config import GraphConfig, NodeConfig
from yamlgraph.node_types.base import ERROR_KEYS, ERRORS_KEY, LLM_KEYS, NodeCheck, NodeType
from yamlgraph.nodes import PromptedModel, node_errors, node_policy


class ModelItem:
    """A model node run on one map item."""

    def __init__(self, graph: GraphConfig, sub: NodeConfig):
        self.model = PromptedModel(graph, sub)

    def run(self, view: dict) -> Any:
        return self.model.ask(view)

    async def arun(self, view: dict) -> Any:
        return await self.model.aask(view)


class LlmNode(NodeType):
    name = "llm"
    summary = "renders a prompt, calls the chat model, stores the text (or parsed JSON)"
    keys = LLM_KEYS | ERROR_KEYS
    in_map = True
    colours = ("#dbeafe", "#2563eb")

    def check(self, ctx: NodeCheck) -> None:
        ctx.prompt()

    def written_keys(self, node: NodeConfig) -> list[str]:
        errors = [ERRORS_KEY] if node.get("on_error") == "skip" else []
        return [node.get("state_key", node.name), *errors]

    def action(self, graph: GraphConfig, node: NodeConfig) -> RunnableCallable:
        model = PromptedModel(graph, node)
        key = node.get("state_key", node.name)

        @node_errors(node.name)
        @node_policy(node, key)
        def run(state: dict, config: RunnableConfig) -> dict:
            return {key: model.ask(state, config)}

        @node_errors(node.name)
        @node_policy(node, key)
        async def arun(state: dict, config: RunnableConfig) -> dict:
            return {key: await model.aask(state, config)}

        return RunnableCallable(run, arun, name=node.name)

    def item_runner(self, graph: GraphConfig, sub: NodeConfig) -> ModelItem:
        return ModelItem(graph, sub)


NODE_TYPE = LlmNode()
