"""Load a YAML graph, validate it and build the LangGraph StateGraph (the seed's sync API).

config = load_graph_config("graphs/my-graph.yaml")
graph = compile_graph(config)
app = graph.compile(checkpointer=get_checkpointer_for_graph(config))
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END as LG_END
from langgraph.graph import START as LG_START
from langgraph.graph import StateGraph
from langgraph.graph.message import add_messages

from yamlgraph.config import (
    END,
    PAYLOADS_KEY,
    RELAY_KEY,
    ROUTE_KEY,
    START,
    VISITS_KEY,
    EdgeConfig,
    GraphConfig,
    kind_of,
    load_graph_source,
    read_graph_text,
)
from yamlgraph.errors import GraphRuntimeError, GraphValidationError
from yamlgraph.expressions import compile_expression

__all__ = [
    "GraphConfig",
    "GraphValidationError",
    "compile_graph",
    "get_checkpointer_for_graph",
    "load_graph_config",
    "load_graph_source",
]

_PY_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
    "any": Any,
}


def load_graph_config(path: str | PathLike) -> GraphConfig:
    """Read and validate a graph file; raises GraphValidationError listing every problem."""
    return load_graph_source(read_graph_text(path), Path(path))


def _add(left: Any, right: Any) -> Any:
    if left is None:
        return right
    if right is None:
        return left
    return operator.add(left, right)


def _last(_left: Any, right: Any) -> Any:
    return right


def _merge_dicts(left: dict | None, right: dict | None) -> dict:
    return {**(left or {}), **(right or {})}


def _count_visits(left: dict | None, right: dict | None) -> dict:
    merged = dict(left or {})
    for name, count in (right or {}).items():
        merged[name] = merged.get(name, 0) + count
    return merged


def state_schemas(config: GraphConfig) -> tuple[type, type]:
    """(full state, public state) TypedDicts; private engine channels stay out of outputs."""
    public: dict[str, Any] = {}
    for name, field in config.public_state_fields.items():
        py_type = _PY_TYPES.get(field.type, Any)
        if field.type == "messages":  # a conversation: LangGraph's own reducer
            public[name] = Annotated[list, add_messages]
        elif field.reducer == "add":
            public[name] = Annotated[py_type, _add]
        elif not field.declared:
            # Keys the engine declared may be written by parallel branches (two interrupts).
            public[name] = Annotated[Any, _last]
        else:
            public[name] = py_type
    private = {
        ROUTE_KEY: Annotated[Any, _last],
        VISITS_KEY: Annotated[Any, _count_visits],
        PAYLOADS_KEY: Annotated[Any, _merge_dicts],
        RELAY_KEY: Annotated[Any, _merge_dicts],
    }
    full = TypedDict(f"{_type_name(config)}State", {**public, **private}, total=False)
    output = TypedDict(f"{_type_name(config)}Output", public, total=False)
    return full, output


def _type_name(config: GraphConfig) -> str:
    return "".join(part.capitalize() for part in config.name.replace("-", "_").split("_"))


class YamlStateGraph(StateGraph):
    """A StateGraph that remembers its config, so compile() applies `config.recursion_limit`."""

    yaml_config: GraphConfig

    def compile(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        app = super().compile(*args, **kwargs)
        limit = self.yaml_config.config.get("recursion_limit")
        if limit:
            app = app.with_config(recursion_limit=limit)
        return app


def compiled_child_factory(cache: dict) -> Callable[..., tuple[GraphConfig, Any]]:
    """Compile each subgraph file once per parent compile (a graph may use it twice)."""

    def compile_child(path: str | PathLike, own_namespace: bool = False) -> tuple:
        key = (str(path), own_namespace)
        if key not in cache:
            child_config = load_graph_config(path)
            # own_namespace: checkpoints under the node's name, so a later run resumes it
            checkpointer = True if own_namespace else None
            cache[key] = (
                child_config,
                compile_graph(child_config).compile(checkpointer=checkpointer),
            )
        return cache[key]

    return compile_child


class Builder:
    """The graph being built, as node types see it (`node_types.base.GraphBuilder`)."""

    def __init__(self, graph: StateGraph, config: GraphConfig):
        self.graph = graph
        self.config = config
        self.compile_child = compiled_child_factory({})

    def add_node(self, name: str, action: Any, *, counts_for: str | None = None) -> None:
        """Add a LangGraph node; one that `counts_for` a YAML node obeys its loop limit."""
        self.graph.add_node(
            name, _limited(self.config, counts_for, action) if counts_for else action
        )

    def add_edge(self, source: str, target: str) -> None:
        self.graph.add_edge(source, target)

    def add_conditional_edges(self, source: str, route: Callable, targets: list[str]) -> None:
        self.graph.add_conditional_edges(source, route, targets)


def compile_graph(config: GraphConfig) -> YamlStateGraph:
    """Build the StateGraph for a validated config. Callers compile it with a checkpointer.

    Each node's type (yamlgraph.node_types) adds its LangGraph node(s) and says where
    edges enter and leave it; the edges of the file are then drawn between those.
    """
    full, output = state_schemas(config)
    graph = YamlStateGraph(full, input_schema=output, output_schema=output)
    graph.yaml_config = config
    builder = Builder(graph, config)
    entries: dict[str, str] = {START: LG_START, END: LG_END}
    exits: dict[str, str] = {}  # nodes whose outgoing edges leave from another node

    for name, node in config.nodes.items():
        ends = kind_of(node).build(builder, node)
        entries[name] = ends.entry
        if ends.exit != name:
            exits[name] = ends.exit

    start = LG_START
    defaults = {name: f.default for name, f in config.public_state_fields.items() if f.has_default}
    if defaults:
        graph.add_node(DEFAULTS_NODE, _defaults_writer(defaults))
        graph.add_edge(LG_START, DEFAULTS_NODE)
        start = DEFAULTS_NODE
    _add_edges(graph, config, entries, start, exits)
    return graph


def _limited(config: GraphConfig, name: str, action: Any) -> Any:
    """Count runs of nodes under `loop_limits`; past the limit the node does nothing.

    An exhausted call still counts, so a node whose edges are all plain can tell that it
    was reached once more than allowed and leave through its loop exit.
    """
    limit = config.loop_limits.get(name)
    if limit is None:
        return action
    from langgraph._internal._runnable import RunnableCallable

    def exhausted(state: dict) -> bool:
        return (state.get(VISITS_KEY) or {}).get(name, 0) >= limit

    def run(state: dict, config: RunnableConfig) -> dict:
        if exhausted(state):
            return {VISITS_KEY: {name: 1}}
        update = dict(_invoke(action, state, config) or {})
        update[VISITS_KEY] = {name: 1}
        return update

    async def arun(state: dict, config: RunnableConfig) -> dict:
        if exhausted(state):
            return {VISITS_KEY: {name: 1}}
        if hasattr(action, "ainvoke"):
            update = dict(await action.ainvoke(state, config) or {})
        else:
            update = dict(_invoke(action, state, config) or {})
        update[VISITS_KEY] = {name: 1}
        return update

    return RunnableCallable(run, arun, name=name)


def _invoke(action: Any, state: dict, config_: Any) -> Any:
    if hasattr(action, "invoke"):
        return action.invoke(state, config_)
    return action(state)


#: Writes declared defaults into the state before the first node, so they show in the
#: state and the final values, not only in what nodes read. Added only when needed.
DEFAULTS_NODE = "yamlgraph__defaults"


def _defaults_writer(defaults: dict[str, Any]) -> Callable[[dict], dict]:
    def write_defaults(state: dict) -> dict:
        return {key: copy.deepcopy(value) for key, value in defaults.items() if key not in state}

    return write_defaults


def _add_edges(
    graph: StateGraph,
    config: GraphConfig,
    entries: dict[str, str],
    start: str = LG_START,
    exits: dict[str, str] | None = None,
) -> None:
    """Edges enter a node by its entry (interrupts have two nodes) and leave by its exit."""

    def exit_of(name: str) -> str:
        return start if name == START else (exits or {}).get(name, name)

    by_source: dict[str, list[EdgeConfig]] = {}
    for edge in config.edges:
        if len(edge.sources) > 1:
            for target in edge.targets:
                graph.add_edge([exit_of(s) for s in edge.sources], entries[target])
            continue
        by_source.setdefault(edge.sources[0], []).append(edge)
    for name, node in config.nodes.items():
        routes = kind_of(node).routes(node)
        if routes and name not in by_source:  # a router without edges follows its routes
            by_source[name] = [EdgeConfig([name], sorted(set(routes.values())), conditional=True)]

    for source, edges in by_source.items():
        plain = all(not e.condition and not e.conditional for e in edges)
        if plain and source not in config.loop_limits:
            for edge in edges:
                for target in edge.targets:
                    graph.add_edge(exit_of(source), entries[target])
            continue
        router, targets = _edge_router(config, source, edges)
        graph.add_conditional_edges(exit_of(source), router, {t: entries[t] for t in targets})


def _edge_router(
    config: GraphConfig, source: str, edges: list[EdgeConfig]
) -> tuple[Callable[[dict], list[str]], set[str]]:
    """One routing function for all edges leaving `source`, evaluated in file order.

    The first matching conditional edge wins; plain edges are the fallback; a node past
    its loop limit goes to its loop exit (END if none).
    """
    limit = config.loop_limits.get(source)
    loop_exit = config.loop_exits.get(source, END)
    compiled = [(e, compile_expression(e.condition) if e.condition else None) for e in edges]
    targets = {t for e in edges for t in e.targets}
    if limit is not None:
        targets.add(loop_exit)

    # Conditional edges leave for the exit once the node has run `limit` times; a node
    # with only plain edges runs its successors until it is reached past the limit.
    conditional = any(e.condition or e.conditional for e in edges)
    exit_after = limit if conditional or limit is None else limit + 1

    def route(state: dict) -> list[str]:
        if limit is not None and (state.get(VISITS_KEY) or {}).get(source, 0) >= exit_after:
            return [loop_exit]
        fallback: list[str] = []
        for edge, expression in compiled:
            if edge.conditional and expression is None:
                chosen = state.get(ROUTE_KEY)
                if chosen in edge.targets:
                    return [chosen]
            elif expression is not None:
                if expression.evaluate(state):
                    return list(edge.targets)
            else:
                fallback.extend(edge.targets)
        if fallback:
            return fallback
        raise GraphRuntimeError(
            source,
            "no outgoing edge matched: "
            + ", ".join(e.condition or f"route {state.get(ROUTE_KEY)!r}" for e in edges),
        )

    route.__name__ = f"route_{source}"
    return route, targets


def get_checkpointer_for_graph(config: GraphConfig, *, async_mode: bool = False):
    """The saver a graph's `checkpointer:` block asks for; an in-memory saver without one.

    Interrupts cannot pause without a checkpointer, so a graph that names none gets the
    memory saver in the sync API exactly as in the async one.
    """
    if config.checkpointer is None:
        from langgraph.checkpoint.memory import InMemorySaver

        return InMemorySaver()
    from yamlgraph.storage import get_checkpointer

    return get_checkpointer(config.checkpointer, async_mode=async_mode, source=config.file)
