"""Which state keys a graph may write: yamlgraph's rule, with the engine's own keys kept.

yamlgraph accepts any identifier as a state key, underscores included (its docs use
`tool_results_key: _tool_results`). The engine keeps a few keys of its own (routing,
loop counts, paused questions, subgraph relays) and LangGraph reserves names starting
with two underscores (`__interrupt__`); writing those from a graph would corrupt a run,
so only they are refused.
"""

from __future__ import annotations

#: The engine's own state keys (yamlgraph.config ROUTE_KEY, VISITS_KEY, PAYLOADS_KEY,
#: RELAY_KEY). A passthrough may still write `_route` (it chooses a conditional edge).
INTERNAL_KEYS = frozenset({"_route", "_loop_counts", "_interrupt_payloads", "_subgraph_relay"})


def internal_key_problem(key: str) -> str | None:
    """Why a graph may not write `key`, or None when it may."""
    if key.startswith("__"):
        return f"'{key}' cannot be a state key: names starting with '__' are LangGraph's"
    if key in INTERNAL_KEYS:
        return f"'{key}' cannot be a state key: the engine keeps it ({', '.join(sorted(INTERNAL_KEYS))})"
    return None
