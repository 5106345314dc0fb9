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


def check_conversation(kind: NodeType, ctx: NodeCheck, default_prompt: str | None = None) -> None:
    """The prompt, and what a chat node (state_key a messages field) may not do: it needs
    no prompt (the conversation is its input) and cannot parse JSON."""
    from yamlgraph.config import is_messages_field

    key = ctx.spec.get("state_key", ctx.name)
    chat = is_messages_field(ctx.config, key)
    spec = {"prompt": default_prompt, **ctx.spec} if default_prompt and not chat else ctx.spec
    ctx.prompt(spec, required=not chat)
    if not chat:
        return
    if not getattr(kind, "converses", False):
        ctx.add(
            f"'{key}' is a messages field; a {kind.name} node cannot write to a conversation",
            "state_key",
        )
    elif ctx.spec.get("parse_json"):
        ctx.add(f"a node that converses over '{key}' stores the reply as a message", "parse_json")


class LlmNode(NodeType):
    name = "llm"
    summary = "renders a prompt, calls the chat model, stores the text (or parsed JSON)"
    keys = LLM_KEYS | ERROR_KEYS
    in_map = True
    colours = ("#dbeafe", "#2563eb")

    #: whether a messages field may be its state_key (a chat node, yamlgraph.messages)
    converses = True

    def check(self, ctx: NodeCheck) -> None:
        check_conversation(self, ctx)

    def written_keys(self, node: NodeConfig) -> list[str]:
        errors = [ERRORS_KEY] if node.get("on_error") == "skip" else []
        return [node.get("state_key", node.name), *errors]

    def action(self, graph: GraphConfig, node: NodeConfig) -> RunnableCallable:
        model = PromptedModel(graph, node)
        key = node.get("state_key", node.name)
        # a chat node appends to the conversation: a skip writes nothing to it
        output = None if model.conversation else key

        @node_errors(node.name)
        @node_policy(node, output)
        def run(state: dict, config: RunnableConfig) -> dict:
            return {key: model.ask(state, config)}

        @node_errors(node.name)
        @node_policy(node, output)
        async def arun(state: dict, config: RunnableConfig) -> dict:
            return {key: await model.aask(state, config)}

        return RunnableCallable(run, arun, name=node.name)

    def item_runner(self, graph: GraphConfig, sub: NodeConfig) -> ModelItem:
        return ModelItem(graph, sub)


NODE_TYPE = LlmNode()
