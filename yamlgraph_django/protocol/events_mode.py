"""`stream_mode: "events"`: LangChain's `astream_events` (v2) events, made from a run's
logged parts, so clients that ask for it (agent-inbox, LangGraph Studio) see the run
happen: `on_chain_start` / `on_chain_end` of the graph, `on_chain_end` per node with its
update, `on_chain_stream` per state, `on_chat_model_stream` per LLM token chunk.

The graph runs with `stream()`, not `astream_events()`: callbacks below node level
(prompts, parsers, tool runs) are not seen, and a node's `on_chain_start` comes with its
end (the log has the node's update, not its start).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

#: The v1 modes `events` is made from (a run asked for `events` produces them too).
SOURCE_MODES = ("values", "updates", "messages-tuple")


class EventsMode:
    """Turns one run's logged parts into `events` payloads (stateful per stream)."""

    def __init__(self, graph_name: str = "LangGraph") -> None:
        self.graph_name = graph_name or "LangGraph"
        self.run_id = ""
        self.last_values: Any = None

    def of(self, mode: str, data: Any) -> list[dict[str, Any]]:
        if mode == "metadata" and isinstance(data, Mapping):
            self.run_id = str(data.get("run_id") or uuid.uuid4())
            return [self.event("on_chain_start", self.graph_name, {"input": None})]
        if mode == "values":
            self.last_values = data
            return [self.event("on_chain_stream", self.graph_name, {"chunk": data})]
        if mode == "updates" and isinstance(data, Mapping):
            found = []
            for node, update in data.items():
                if node == "__interrupt__":
                    continue
                node_run = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.run_id}/{node}/{len(found)}"))
                meta = {"langgraph_node": node}
                found.append(self.event("on_chain_start", node, {"input": None}, node_run, meta))
                found.append(self.event("on_chain_end", node, {"output": update}, node_run, meta))
            return found
        if mode == "messages" and isinstance(data, list | tuple) and len(data) == 2:
            chunk, metadata = data
            meta = dict(metadata) if isinstance(metadata, Mapping) else {}
            name = str(meta.get("ls_model_name") or meta.get("langgraph_node") or "chat_model")
            return [self.event("on_chat_model_stream", name, {"chunk": chunk}, metadata=meta)]
        if mode == "end":
            return [self.event("on_chain_end", self.graph_name, {"output": self.last_values})]
        return []

    def event(
        self,
        kind: str,
        name: str,
        data: dict[str, Any],
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "event": kind,
            "name": name,
            "run_id": run_id or self.run_id,
            "tags": [],
            "metadata": metadata or {},
            "data": data,
            "parent_ids": [] if run_id is None else [self.run_id],
        }
