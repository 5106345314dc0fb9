"""`type: subgraph`: another graph file run as a node, in `invoke` or `direct` mode.

The builders take a `compile_child(path, own_namespace=False) -> (config, app)`
function (graph_loader's `compiled_child_factory`), so this module does not import
the loader that imports it.

Its interrupts pause the parent session; with `interrupt_output_mapping` a relay pair
of nodes shows the paused child's state in the parent while it waits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable
from langgraph.types import interrupt

from yamlgraph.config import RELAY_KEY, GraphConfig, NodeConfig
from yamlgraph.nodes import NodeFunction, node_errors


def build_subgraph(graph: GraphConfig, node: NodeConfig, compile_child) -> RunnableCallable:
    """Run another graph inside this node, sharing the parent's checkpointer.

    The child is compiled without a checkpointer, so LangGraph stores its checkpoints in
    the parent's saver under this node's namespace; its interrupts pause the parent.
    `mode: invoke` maps keys with input_mapping/output_mapping; `mode: direct` passes
    the child's own state fields by name both ways.
    """
    child_config, child_app = compile_child(graph.resolve_path(node.get("graph")))
    direct = node.get("mode") == "direct"
    input_mapping: dict[str, str] | None = node.get("input_mapping")
    output_mapping: dict[str, str] = node.get("output_mapping") or {}
    child_fields = child_config.public_state_fields

    def child_input(state: dict) -> dict:
        if input_mapping is None:
            return {k: v for k, v in state.items() if k in child_fields}
        return {child_key: state.get(parent_key) for parent_key, child_key in input_mapping.items()}

    def parent_update(result: Mapping[str, Any]) -> dict:
        if direct:
            return {k: v for k, v in result.items() if k in child_fields}
        return {parent: result.get(child) for parent, child in output_mapping.items()}

    @node_errors(node.name)
    def run(state: dict, config: RunnableConfig) -> dict:
        return parent_update(child_app.invoke(child_input(state), config))

    @node_errors(node.name)
    async def arun(state: dict, config: RunnableConfig) -> dict:
        return parent_update(await child_app.ainvoke(child_input(state), config))

    return RunnableCallable(run, arun, name=node.name)


def relay_pause_name(name: str) -> str:
    """The node that asks a relayed subgraph's question in the parent."""
    return f"{name}__pause"


def relay_done_name(name: str) -> str:
    """The node a relayed subgraph's outgoing edges leave from."""
    return f"{name}__done"


def build_subgraph_relay(
    graph: GraphConfig, node: NodeConfig, compile_child
) -> tuple[RunnableCallable, NodeFunction]:
    """A subgraph with `interrupt_output_mapping`: (run, pause), yamlgraph's relay pair.

    `run` runs the child (with its own persistent namespace, so a later run can resume
    it); when the child pauses, `run` writes the interrupt_output_mapping keys to the
    parent and hands the child's questions to `pause`, which asks them as the parent's
    interrupts and sends the answers back to `run`, which resumes the child. When the
    child reaches its end, `run` writes output_mapping as a plain subgraph does.
    """
    from langgraph.errors import GraphInterrupt
    from langgraph.types import Command

    child_config, child_app = compile_child(graph.resolve_path(node.get("graph")), True)
    input_mapping: dict[str, str] | None = node.get("input_mapping")
    output_mapping: dict[str, str] = node.get("output_mapping") or {}
    paused_mapping: dict[str, str] = node.get("interrupt_output_mapping") or {}
    child_fields = child_config.public_state_fields

    def child_input(state: dict) -> Any:
        relay = (state.get(RELAY_KEY) or {}).get(node.name) or {}
        if "answers" in relay:
            return Command(resume=relay["answers"])
        if input_mapping is None:
            return {k: v for k, v in state.items() if k in child_fields}
        return {child_key: state.get(parent_key) for parent_key, child_key in input_mapping.items()}

    def finish(values: Mapping[str, Any], paused: GraphInterrupt | None) -> dict:
        if paused is None:
            update = {parent: values.get(child) for parent, child in output_mapping.items()}
            return {**update, RELAY_KEY: {node.name: None}}
        asked = [{"id": item.id, "value": item.value} for item in paused.args[0]]
        update = {parent: values.get(child) for parent, child in paused_mapping.items()}
        return {**update, RELAY_KEY: {node.name: {"asked": asked}}}

    @node_errors(node.name)
    def run(state: dict, config: RunnableConfig) -> dict:
        values: Mapping[str, Any] = {}
        try:
            for chunk in child_app.stream(child_input(state), config, stream_mode="values"):
                values = chunk
        except GraphInterrupt as paused:
            return finish(values, paused)
        return finish(values, None)

    @node_errors(node.name)
    async def arun(state: dict, config: RunnableConfig) -> dict:
        values: Mapping[str, Any] = {}
        try:
            async for chunk in child_app.astream(child_input(state), config, stream_mode="values"):
                values = chunk
        except GraphInterrupt as paused:
            return finish(values, paused)
        return finish(values, None)

    def pause(state: dict) -> dict:
        asked = ((state.get(RELAY_KEY) or {}).get(node.name) or {}).get("asked") or []
        answers = {item["id"]: interrupt(item["value"]) for item in asked}
        return {RELAY_KEY: {node.name: {"answers": answers}}}

    pause.__name__ = relay_pause_name(node.name)
    return RunnableCallable(run, arun, name=node.name), pause


def relay_paused(name: str) -> Callable[[dict], str]:
    """Routes a relayed subgraph to its pause node while the child waits for answers."""

    def route(state: dict) -> str:
        relay = (state.get(RELAY_KEY) or {}).get(name) or {}
        return relay_pause_name(name) if "asked" in relay else relay_done_name(name)

    return route
