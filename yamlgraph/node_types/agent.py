"""`type: agent`: a chat model that calls the graph's tools in a loop until it answers.

Each model turn and each tool call runs as a LangGraph task, so its result is
checkpointed: when a tool pauses the session (a python tool that calls
`langgraph.types.interrupt`), the resume replays the turns already taken from the
checkpoint instead of asking the model again, and the loop goes on from the paused call.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable
from langgraph.errors import GraphBubbleUp
from langgraph.func import task

from yamlgraph.config import GraphConfig, NodeConfig
from yamlgraph.error_policy import NodeSkipped
from yamlgraph.errors import GraphRuntimeError, did_you_mean
from yamlgraph.graph_tools import call_tool, langchain_tool
from yamlgraph.llm import message_text
from yamlgraph.node_types.base import (
    ERROR_KEYS,
    ERRORS_KEY,
    LLM_KEYS,
    NodeCheck,
    NodeType,
)
from yamlgraph.node_types.llm import check_conversation
from yamlgraph.nodes import PromptedModel, node_errors, node_policy
from yamlgraph.websearch import WebsearchNotConfigured

DEFAULT_AGENT_ITERATIONS = 10  # yamlgraph 0.6.5's default (graph-yaml.md says 5)


class AgentLoop:
    """One agent node: its prompt, model (tools bound), tools and limits."""

    def __init__(self, graph: GraphConfig, node: NodeConfig):
        from yamlgraph.config import is_messages_field

        self.node = node
        chat = is_messages_field(graph, node.get("state_key", node.name))
        # yamlgraph's agent uses the prompt named `agent` when the node names none; a chat
        # agent's input is its conversation
        self.prompted = PromptedModel(graph, node, default_prompt=None if chat else "agent")
        self.tools = {name: graph.tools[name] for name in node.get("tools") or []}
        specs = [langchain_tool(tool) for tool in self.tools.values()]
        policy = self.prompted.policy
        self.model = self.prompted.model.bind_tools(specs) if specs else self.prompted.model
        if policy.fallback_model is not None and specs:
            policy.fallback_model = policy.fallback_model.bind_tools(specs)
        self.max_iterations = node.get("max_iterations", DEFAULT_AGENT_ITERATIONS)
        self.state_key = node.get("state_key", node.name)
        self.results_key = node.get("tool_results_key")
        self.think = task(name=f"{node.name}:model")(self._think)
        self.athink = task(name=f"{node.name}:model")(self._athink)
        self.act = task(name=f"{node.name}:tool")(self._act)

    def _think(self, messages: list[BaseMessage]) -> AIMessage:
        return self.prompted.policy.run(lambda model: model.invoke(messages), self.model)

    async def _athink(self, messages: list[BaseMessage]) -> AIMessage:
        async def attempt(model: Any) -> AIMessage:
            return await model.ainvoke(messages)

        return await self.prompted.policy.arun(attempt, self.model)

    def _act(self, call: dict[str, Any]) -> dict[str, Any]:
        """Run one tool call; a failing tool is reported to the model, not raised."""
        name, arguments = call["name"], call.get("args") or {}
        tool = self.tools.get(name)
        try:
            if tool is None:
                raise LookupError(f"unknown tool '{name}' (tools: {', '.join(self.tools)})")
            output, success = call_tool(tool, arguments), True
        except GraphBubbleUp:
            raise
        except WebsearchNotConfigured as exc:  # no search at all: the node fails, named
            raise GraphRuntimeError(self.node.name, str(exc)) from exc
        except Exception as exc:
            output, success = f"Error: {exc}", False
        return {"tool": name, "args": arguments, "output": output, "success": success}

    def answer(
        self, messages: list[BaseMessage], results: list[dict], turns: int, asked: int = 0
    ) -> dict:
        """The node's update once the model answers (or the turns run out). `asked`: how
        many of `messages` went to the first turn; a chat agent appends the rest (its own
        turns) to its conversation."""
        if results and not any(r["success"] for r in results):
            raise GraphRuntimeError(
                self.node.name,
                f"all {len(results)} tool call(s) failed; first: {results[0]['output']}",
            )
        last = messages[-1]
        if self.prompted.conversation is not None:  # the turns taken, appended to the chat
            value: Any = messages[asked:]
        elif isinstance(last, AIMessage):
            value = self.prompted.parse(last)
        else:
            value = message_text(last)
        update: dict[str, Any] = {self.state_key: value}
        if self.results_key:
            update[self.results_key] = results
        return update

    @staticmethod
    def tool_message(call: dict[str, Any], result: dict[str, Any]) -> ToolMessage:
        output = result["output"]
        return ToolMessage(
            content=output if isinstance(output, str) else str(output), tool_call_id=call["id"]
        )


def build_agent(graph: GraphConfig, node: NodeConfig) -> RunnableCallable:
    loop = AgentLoop(graph, node)

    @node_errors(node.name)
    @node_policy(node, None if loop.prompted.conversation else loop.state_key)
    def run(state: dict, config: RunnableConfig) -> dict:
        messages = loop.prompted.messages(state)
        asked = len(messages)
        results: list[dict] = []
        for turn in range(1, loop.max_iterations + 1):
            reply = loop.think(messages).result()
            messages.append(reply)
            if not reply.tool_calls:
                return loop.answer(messages, results, turn, asked)
            futures = [(call, loop.act(call)) for call in reply.tool_calls]
            for call, future in futures:
                result = future.result()
                results.append(result)
                messages.append(loop.tool_message(call, result))
        return loop.answer(messages, results, loop.max_iterations, asked)

    @node_errors(node.name)
    @node_policy(node, None if loop.prompted.conversation else loop.state_key)
    async def arun(state: dict, config: RunnableConfig) -> dict:
        messages = loop.prompted.messages(state)
        asked = len(messages)
        results: list[dict] = []
        for turn in range(1, loop.max_iterations + 1):
            reply = await loop.athink(messages)
            messages.append(reply)
            if not reply.tool_calls:
                return loop.answer(messages, results, turn, asked)
            done = await asyncio.gather(*(loop.act(call) for call in reply.tool_calls))
            for call, result in zip(reply.tool_calls, done, strict=True):
                results.append(result)
                messages.append(loop.tool_message(call, result))
        return loop.answer(messages, results, loop.max_iterations, asked)

    return RunnableCallable(run, arun, name=node.name)


class ItemSkipped(NodeSkipped):
    """A map item whose agent already recorded why it skipped."""

    def __init__(self, record: dict[str, str]):
        Exception.__init__(self, record.get("message", ""))
        self.saved = record

    def record(self) -> dict[str, str]:
        return self.saved


class AgentItem:
    """An agent run on one map item: a fresh agent per item, its own turns and calls."""

    def __init__(self, graph: GraphConfig, sub: NodeConfig):
        self.graph = graph
        self.sub = sub

    def value(self, update: dict) -> Any:
        """An agent item's answer; a skipped agent skips the item."""
        if update.get(ERRORS_KEY):
            raise ItemSkipped(update[ERRORS_KEY][0])
        return update.get(self.sub.get("state_key", self.sub.name))

    def run(self, view: dict) -> Any:
        return self.value(build_agent(self.graph, self.sub).invoke(view))

    async def arun(self, view: dict) -> Any:
        return self.value(await build_agent(self.graph, self.sub).ainvoke(view))


class AgentNode(NodeType):
    name = "agent"
    summary = "the model calls the graph's tools in a loop until it answers"
    keys = LLM_KEYS - {"stream"} | ERROR_KEYS | {"tools", "max_iterations", "tool_results_key"}
    in_map = True
    converses = True

    def check(self, ctx: NodeCheck) -> None:
        spec = ctx.spec
        check_conversation(self, ctx, default_prompt="agent")
        tools = spec.get("tools", [])
        if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
            ctx.add("must be a list of names under 'tools:'", "tools")
            tools = []
        for index, tool in enumerate(tools):
            if not ctx.tool_declared(tool):
                known = set(ctx.config.tools)
                ctx.add(f"unknown tool '{tool}'{did_you_mean(tool, known)}", "tools", index)
        iterations = spec.get("max_iterations", DEFAULT_AGENT_ITERATIONS)
        if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
            ctx.add("must be a positive integer", "max_iterations")
        if "tool_results_key" in spec:
            ctx.writable_key(spec["tool_results_key"], "tool_results_key")

    def written_keys(self, node: NodeConfig) -> list[str]:
        errors = [ERRORS_KEY] if node.get("on_error") == "skip" else []
        extra = [node.get("tool_results_key")] if node.get("tool_results_key") else []
        return [node.get("state_key", node.name), *extra, *errors]

    def action(self, graph: GraphConfig, node: NodeConfig) -> RunnableCallable:
        return build_agent(graph, node)

    def item_runner(self, graph: GraphConfig, sub: NodeConfig) -> AgentItem:
        return AgentItem(graph, sub)


NODE_TYPE = AgentNode()
