"""`type: tool_call`: calls the tool the state names, with arguments from the state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from yamlgraph.config import GraphConfig, NodeConfig
from yamlgraph.errors import GraphRuntimeError, did_you_mean
from yamlgraph.graph_tools import call_tool
from yamlgraph.node_types.base import NodeCheck, NodeType
from yamlgraph.nodes import NodeFunction, node_errors, node_policy
from yamlgraph.templates import render

DEFAULT_TOOL_CALL_KEY = "result"  # yamlgraph 0.6.5's default (tool-call-nodes.md: node name)


def tool_call_result(graph: GraphConfig, node: NodeConfig, view: Mapping[str, Any]) -> dict:
    """yamlgraph's tool_call envelope: {task_id, tool, success, result, error}.

    The tool name and arguments come from the state; a failure is reported in the
    envelope (on_error: skip, the default) or raised (on_error: fail).
    """
    name = render(node.get("tool"), view)
    arguments = render(node.get("args"), view)
    task = view.get("task")
    envelope: dict[str, Any] = {
        "task_id": task.get("id") if isinstance(task, dict) else None,
        "tool": name,
        "success": False,
        "result": None,
        "error": None,
    }
    tool = graph.tools.get(str(name))
    try:
        if tool is None:
            raise LookupError(f"Unknown tool: {name}")
        if not isinstance(arguments, Mapping):
            raise TypeError(f"'args' gave {type(arguments).__name__}, not a mapping")
        envelope["result"] = call_tool(tool, dict(arguments))
        envelope["success"] = True
    except Exception as exc:
        if node.get("on_error", "skip") == "fail":
            raise GraphRuntimeError(node.name, f"tool '{name}' failed: {exc}") from exc
        envelope["error"] = (
            str(exc) if isinstance(exc, LookupError) else (f"{type(exc).__name__}: {exc}")
        )
    return envelope


class ToolCallItem:
    """A tool_call on one map item: its envelope is the item's result."""

    def __init__(self, graph: GraphConfig, sub: NodeConfig):
        self.graph = graph
        self.sub = sub

    def run(self, view: dict) -> Any:
        return tool_call_result(self.graph, self.sub, view)

    async def arun(self, view: dict) -> Any:
        return self.run(view)


class ToolCallNode(NodeType):
    name = "tool_call"
    summary = "calls the tool the state names with arguments from the state"
    keys = frozenset({"tool", "args", "state_key", "requires", "on_error"})
    on_error_values = ("skip", "fail")
    in_map = True

    def check(self, ctx: NodeCheck) -> None:
        spec, config = ctx.spec, ctx.config
        for key in ("tool", "args"):
            if key not in spec:
                ctx.add(f"a tool_call node needs '{key}' (a template on the state)")
        tool, args = spec.get("tool"), spec.get("args")
        if tool is not None and not isinstance(tool, str):
            ctx.add("must be a tool name or a template like '{state.task.tool}'", "tool")
        elif isinstance(tool, str) and "{" not in tool and tool not in config.tools:
            ctx.add(f"unknown tool '{tool}'{did_you_mean(tool, set(config.tools))}", "tool")
        if args is not None and not isinstance(args, str | dict):
            ctx.add("must be a template like '{state.task.args}' or a mapping", "args")
        ctx.templates(tool, "tool")
        ctx.templates(args, "args")

    def written_keys(self, node: NodeConfig) -> list[str]:
        return [node.get("state_key", DEFAULT_TOOL_CALL_KEY)]

    def action(self, graph: GraphConfig, node: NodeConfig) -> NodeFunction:
        key = node.get("state_key", DEFAULT_TOOL_CALL_KEY)

        @node_errors(node.name)
        @node_policy(node, None)
        def run(state: dict) -> dict:
            return {key: tool_call_result(graph, node, state)}

        run.__name__ = node.name
        return run

    def item_runner(self, graph: GraphConfig, sub: NodeConfig) -> ToolCallItem:
        return ToolCallItem(graph, sub)


NODE_TYPE = ToolCallNode()
