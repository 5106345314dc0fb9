"""Mermaid flowchart text for a graph, drawn from the YAML (not LangGraph's internal nodes)."""

from __future__ import annotations

from yamlgraph.config import END, START, GraphConfig, kind_of


def _node_id(name: str) -> str:
    return {START: "__start__", END: "__end__"}.get(name, name.replace("-", "_"))


def _label(text: str) -> str:
    return text.replace('"', "'")


def to_mermaid(config: GraphConfig) -> str:
    """A Mermaid flowchart of the graph: one shape per node (its type's), every edge,
    route and loop exit."""
    lines = ["flowchart TD", "    __start__([START])", "    __end__([END])"]
    for name, node in config.nodes.items():
        left, right = kind_of(node).mermaid_shape  # each node type says how it is drawn
        lines.append(f'    {_node_id(name)}{left}"{_label(name)}<br/><i>{node.type}</i>"{right}')
    for edge in config.edges:
        for source in edge.sources:
            for target in edge.targets:
                arrow = "-->"
                if edge.condition:
                    arrow = f'-- "{_label(edge.condition)}" -->'
                elif edge.conditional:
                    arrow = "-.->"
                lines.append(f"    {_node_id(source)} {arrow} {_node_id(target)}")
    routed = {s for e in config.edges for s in e.sources}
    for name, node in config.nodes.items():
        if name not in routed:
            for label, target in kind_of(node).routes(node).items():
                lines.append(
                    f'    {_node_id(name)} -. "{_label(str(label))}" .-> {_node_id(target)}'
                )
    for name, target in config.loop_exits.items():
        limit = config.loop_limits.get(name)
        lines.append(f'    {_node_id(name)} -. "after {limit} runs" .-> {_node_id(target)}')
    return "\n".join(lines) + "\n"
