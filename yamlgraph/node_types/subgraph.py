"""`type: subgraph`: another graph file run as a node, in `invoke` or `direct` mode.

The builders take a `compile_child(path, own_namespace=False) -> (config, app)`
function (the graph builder's), so this module does not import the loader.

Its interrupts pause the parent session; with `interrupt_output_mapping` a relay pair
of nodes shows the paused child's state in the parent while it waits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable
from langgraph.types import interrupt

from yamlgraph.config import RELAY_KEY, GraphConfig, NodeConfig
from yamlgraph.errors import GraphValidationError
from yamlgraph.node_types.base import Ends, GraphBuilder, NodeCheck, NodeType, mapping
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


SUBGRAPH_MODES = ("invoke", "direct")
#: Subgraphs of subgraphs of ...: far beyond any real graph, and well within Python's stack.
MAX_SUBGRAPH_DEPTH = 16


def _pass(state: dict) -> dict:
    return {}


class SubgraphNode(NodeType):
    name = "subgraph"
    summary = "runs another graph file as a node; its interrupts pause the parent"
    keys = frozenset(
        {"graph", "mode", "input_mapping", "output_mapping", "interrupt_output_mapping"}
    )
    mermaid_shape = ("[/", "/]")
    colours = ("#cffafe", "#0891b2")

    def check(self, ctx: NodeCheck) -> None:
        self._check_file(ctx)
        self._check_mode(ctx)

    def _check_file(self, ctx: NodeCheck) -> None:
        from yamlgraph.config import load_graph_source, read_graph_text

        spec = ctx.spec
        graph = spec.get("graph")
        if not graph or not isinstance(graph, str):
            ctx.add("a subgraph node needs 'graph' (a YAML file path)")
            return
        child = ctx.config.resolve_path(graph)
        if not child.is_file():
            ctx.add(f"subgraph file not found: {child}", "graph")
            return
        if self._cycle(child, ctx):
            return
        try:
            text = read_graph_text(child)
            load_graph_source(text, child, check_environment=ctx.issues.check_environment)
        except GraphValidationError as exc:
            for issue in exc.issues:
                ctx.add(f"invalid subgraph: {issue}", "graph")
        for key in ("input_mapping", "output_mapping"):
            value = spec.get(key)
            if value is not None and not isinstance(value, dict):
                ctx.add("must be a mapping", key)
        for key in spec.get("output_mapping") or {}:
            ctx.writable_key(key, "output_mapping", key)

    @staticmethod
    def _cycle(child: Path, ctx: NodeCheck) -> bool:
        """Report (and return True for) a subgraph that includes itself, directly or not,
        or nests deeper than MAX_SUBGRAPH_DEPTH."""
        from yamlgraph.config import loading_files

        loading = loading_files()
        target = child.resolve()
        if target in loading:
            cycle = [*loading[loading.index(target) :], target]
            ctx.add(
                "subgraph cycle: "
                + " -> ".join(p.name for p in cycle)
                + (" (a graph cannot include itself)" if len(cycle) == 2 else ""),
                "graph",
            )
            return True
        if len(loading) >= MAX_SUBGRAPH_DEPTH:
            ctx.add(f"subgraphs nested more than {MAX_SUBGRAPH_DEPTH} deep", "graph")
            return True
        return False

    @staticmethod
    def _check_mode(ctx: NodeCheck) -> None:
        """`mode: invoke|direct` and `interrupt_output_mapping` (yamlgraph 0.6.5's keys)."""
        from yamlgraph.config import load_graph_source, read_graph_text

        spec, config, node = ctx.spec, ctx.config, ctx.node
        mode = spec.get("mode", "invoke")
        if mode not in SUBGRAPH_MODES:
            ctx.add(
                f"unknown subgraph mode '{mode}'; use one of {', '.join(SUBGRAPH_MODES)}", "mode"
            )
        if mode == "direct":
            for key in ("input_mapping", "output_mapping", "interrupt_output_mapping"):
                if key in spec:
                    ctx.add(
                        f"mode: direct shares the parent's state by key name and takes no {key}",
                        key,
                    )
            child = config.resolve_path(str(spec.get("graph")))
            if child.is_file() and (config.file is None or child.resolve() != config.file):
                with contextlib.suppress(GraphValidationError):  # reported by _check_file
                    node.child_fields = load_graph_source(
                        read_graph_text(child), child
                    ).public_state_fields
        paused = spec.get("interrupt_output_mapping")
        if paused is not None and not isinstance(paused, dict):
            ctx.add("must be a mapping", "interrupt_output_mapping")
        for key in mapping(paused):
            ctx.writable_key(key, "interrupt_output_mapping", key)

    def written_keys(self, node: NodeConfig) -> list[str]:
        if node.get("mode") == "direct":
            return list(node.child_fields)
        return list(
            {**mapping(node.get("output_mapping")), **mapping(node.get("interrupt_output_mapping"))}
        )

    def writes_route(self, node: NodeConfig) -> bool:
        return False

    def build(self, builder: GraphBuilder, node: NodeConfig) -> Ends:
        name = node.name
        if not node.get("interrupt_output_mapping"):
            builder.add_node(
                name, build_subgraph(builder.config, node, builder.compile_child), counts_for=name
            )
            return Ends(name, name)
        run, pause = build_subgraph_relay(builder.config, node, builder.compile_child)
        builder.add_node(name, run, counts_for=name)
        builder.add_node(relay_pause_name(name), pause)
        builder.add_node(relay_done_name(name), _pass)
        builder.add_conditional_edges(
            name, relay_paused(name), [relay_pause_name(name), relay_done_name(name)]
        )
        builder.add_edge(relay_pause_name(name), name)
        return Ends(name, relay_done_name(name))

    def inner_names(self, node: NodeConfig) -> list[str]:
        if node.get("interrupt_output_mapping"):
            return [relay_pause_name(node.name), relay_done_name(node.name)]
        return []


NODE_TYPE = SubgraphNode()
