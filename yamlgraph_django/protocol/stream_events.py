"""The thread-scoped event stream of LangGraph's newest clients (`@langchain/react`'s
`useStream`, the JS SDK's `client.threads.stream`): `POST /threads/{id}/stream/events`.

A client asks for channels (`values`, `updates`, `messages`, `tools`, `lifecycle`,
`input`, `checkpoints`, `tasks`, `custom`, `custom:<name>`) and gets every run of the
thread on one Server-Sent Events connection, as protocol events
`{"type": "event", "method", "params": {"namespace", "timestamp", "data"}, "seq", "event_id"}`
(see `langchain_protocol.protocol`). The source is the session's event log, the same
one `/api/` streams and v1 joins read, so a run on any worker or server shows up, and
a stream resumes after `since` (the last `seq` seen). Without `since` it replays the
thread's latest run first (its pending question included), then follows new runs.

`seq` is derived from the log id (`A-B`: A * 4096 + B), so it grows with the log and a
reconnect maps it back to a log position; the parts of one log event share its seq and
have their own `event_id` (`A-B:k`), which the SDK deduplicates on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from yamlgraph_django.events import Event
from yamlgraph_django.exceptions import InvalidInput
from yamlgraph_django.services.run_events import END
from yamlgraph_django.services.thread_events import ThreadFollower, latest_run_pk

#: Channels a client may ask for (`custom:<name>` too).
CHANNELS = (
    "values",
    "updates",
    "messages",
    "tools",
    "lifecycle",
    "input",
    "checkpoints",
    "tasks",
    "custom",
)
#: Log ids are `A-B`; seq = A * SEQ_SPAN + B (B above SEQ_SPAN - 1 shares the last slot).
SEQ_SPAN = 4096
_LOG_ID = re.compile(r"([0-9]{1,18})-([0-9]{1,18})")

#: Session status at a run's `end` -> the lifecycle event that closes it.
TERMINAL = {"completed": "completed", "interrupted": "interrupted", "failed": "failed"}


def seq_of(log_id: str) -> int:
    """The protocol `seq` of a log id."""
    match = _LOG_ID.fullmatch(log_id)
    if match is None:
        return 0
    return int(match[1]) * SEQ_SPAN + min(int(match[2]), SEQ_SPAN - 1)


def log_id_of(seq: int) -> str:
    """The log position a client's `since` stands for (read strictly after it)."""
    return f"{seq // SEQ_SPAN}-{seq % SEQ_SPAN}"


def parse_stream_request(data: Any) -> dict[str, Any]:
    """Check a `stream/events` (or `subscription.subscribe`) body: channels, namespaces,
    depth, since. InvalidInput names the field."""
    if not isinstance(data, Mapping):
        raise InvalidInput(errors={"body": "must be a JSON object"})
    channels = data.get("channels")
    if not isinstance(channels, list) or not channels:
        raise InvalidInput(errors={"channels": "must be a non-empty list of channel names"})
    unknown = [
        str(c)
        for c in channels
        if not isinstance(c, str) or (c not in CHANNELS and not c.startswith("custom:"))
    ]
    if unknown:
        raise InvalidInput(
            errors={
                "channels": f"unknown channel(s) {', '.join(unknown)}; known: "
                f"{', '.join(CHANNELS)}, custom:<name>"
            }
        )
    namespaces = data.get("namespaces")
    if namespaces is not None and (
        not isinstance(namespaces, list)
        or not all(isinstance(n, list) and all(isinstance(s, str) for s in n) for n in namespaces)
    ):
        raise InvalidInput(errors={"namespaces": "must be a list of lists of strings"})
    depth = data.get("depth")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise InvalidInput(errors={"depth": "must be a non-negative integer"})
    since = data.get("since")
    if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
        raise InvalidInput(errors={"since": "must be a non-negative integer (a seq)"})
    return {"channels": list(channels), "namespaces": namespaces, "depth": depth, "since": since}


def channel_of(method: str, data: Any) -> str:
    if method in ("input.requested", "input.answered"):
        return "input"
    if method == "custom" and isinstance(data, Mapping) and data.get("name"):
        return f"custom:{data['name']}"
    return method


class Projection:
    """Turns logged parts (v1 stream modes) into protocol events, statefully: token
    chunks become message-start / content-block-* / message-finish, `__interrupt__`
    becomes `input.requested`, our `metadata` / `error` / `end` become lifecycle events.
    """

    def __init__(self, channels: list[str], namespaces: Any = None, graph_name: str = "") -> None:
        self.channels = set(channels)
        # Every event of ours is at the root namespace: it matches no non-empty prefix.
        self.root_wanted = not namespaces or any(len(ns) == 0 for ns in namespaces)
        self.graph_name = graph_name
        self.open_messages: dict[tuple[Any, str], dict[str, Any]] = {}
        self.asked_ids: set[str] = set()
        self.failed_runs: set[Any] = set()
        self.started_tools: set[str] = set()

    def wants(self, method: str, data: Any) -> bool:
        if not self.root_wanted:
            return False
        channel = channel_of(method, data)
        return channel in self.channels or (
            channel.startswith("custom:") and "custom" in self.channels
        )

    def events(self, event: Event) -> list[dict[str, Any]]:
        """The protocol events one logged part stands for (only the channels asked)."""
        parts = self.parts(event)
        seq = seq_of(event.id)
        now = int(time.time() * 1000)
        out = []
        for index, (method, data, node) in enumerate(parts):
            if not self.wants(method, data):
                continue
            params: dict[str, Any] = {"namespace": [], "timestamp": now, "data": data}
            if node:
                params["node"] = node
            out.append(
                {
                    "type": "event",
                    "method": method,
                    "params": params,
                    "seq": seq,
                    "event_id": f"{event.id}:{index}",
                }
            )
        return out

    def parts(self, event: Event) -> list[tuple[str, Any, str | None]]:
        kind, data, run = event.event, event.data, event.run_id
        if kind == "messages":
            return self.message_parts(run, data)
        parts = self.finish_messages(run) if kind in ("values", "updates", "error", END) else []
        if kind == "metadata":
            self.asked_ids.clear()
            parts.append(("lifecycle", {"event": "running", "graph_name": self.graph_name}, None))
        elif kind == "values":
            values = dict(data) if isinstance(data, Mapping) else {"value": data}
            for interrupt in values.pop("__interrupt__", None) or ():
                if interrupt.get("id") in self.asked_ids:
                    continue
                self.asked_ids.add(interrupt.get("id"))
                request = {"interrupt_id": interrupt.get("id"), "payload": interrupt.get("value")}
                parts.append(("input.requested", request, None))
            parts.append(("values", values, None))
        elif kind == "updates" and isinstance(data, Mapping):
            for node, update in data.items():
                if node == "__interrupt__":
                    continue  # the values part that follows carries it as input.requested
                values = update if isinstance(update, Mapping) else {}
                parts.append(("updates", {"node": node, "values": values}, node))
                parts.extend(self.tool_parts(values, node))
        elif kind == "custom":
            custom = {"payload": data}
            if (
                isinstance(data, Mapping)
                and isinstance(data.get("name"), str)
                and "payload" in data
            ):
                custom = {"name": data["name"], "payload": data["payload"]}
            parts.append(("custom", custom, None))
        elif kind == "checkpoints" and isinstance(data, Mapping):
            parts.append(("checkpoints", checkpoint_part(data), None))
        elif kind == "tasks":
            parts.append(("tasks", data if isinstance(data, Mapping) else {"value": data}, None))
        elif kind == "error":
            self.failed_runs.add(run)
            message = data.get("message", "") if isinstance(data, Mapping) else str(data)
            parts.append(("lifecycle", {"event": "failed", "error": message}, None))
        elif kind == END:
            if run in self.failed_runs:
                return parts
            status = data.get("status") if isinstance(data, Mapping) else None
            terminal = TERMINAL.get(str(status), "failed" if status == "cancelled" else None)
            if terminal is not None:
                parts.append(("lifecycle", {"event": terminal}, None))
        return parts

    def message_parts(self, run: Any, data: Any) -> list[tuple[str, Any, str | None]]:
        """A v1 `[chunk, metadata]` token part as protocol message events."""
        if not isinstance(data, list | tuple) or len(data) != 2:
            return []
        chunk, metadata = data
        if not isinstance(chunk, Mapping):
            return []
        node = (metadata or {}).get("langgraph_node") if isinstance(metadata, Mapping) else None
        message_id = str(chunk.get("id") or "")
        key = (run, node or "")
        parts: list[tuple[str, Any, str | None]] = []
        current = self.open_messages.get(key)
        if current is not None and current["id"] != message_id:
            parts.extend(self.finish_one(key))
            current = None
        if current is None:
            current = {"id": message_id, "text": "", "node": node}
            self.open_messages[key] = current
            role = "human" if chunk.get("type") in ("human", "HumanMessageChunk") else "ai"
            parts.append(
                ("messages", {"event": "message-start", "role": role, "id": message_id}, node)
            )
            start = {
                "event": "content-block-start",
                "index": 0,
                "content": {"type": "text", "text": ""},
            }
            parts.append(("messages", start, node))
        text = text_of(chunk.get("content"))
        if text:
            current["text"] += text
            delta = {"type": "text-delta", "text": text}
            parts.append(
                ("messages", {"event": "content-block-delta", "index": 0, "delta": delta}, node)
            )
        if chunk.get("chunk_position") == "last":
            parts.extend(self.finish_one(key))
        return parts

    def finish_one(self, key: tuple[Any, str]) -> list[tuple[str, Any, str | None]]:
        current = self.open_messages.pop(key, None)
        if current is None:
            return []
        node = current["node"]
        finished = {"type": "text", "text": current["text"]}
        return [
            ("messages", {"event": "content-block-finish", "index": 0, "content": finished}, node),
            ("messages", {"event": "message-finish"}, node),
        ]

    def finish_messages(self, run: Any) -> list[tuple[str, Any, str | None]]:
        parts: list[tuple[str, Any, str | None]] = []
        for key in [k for k in self.open_messages if k[0] == run]:
            parts.extend(self.finish_one(key))
        return parts

    def tool_parts(self, values: Mapping[str, Any], node: str) -> list[tuple[str, Any, str | None]]:
        """Tool calls and results an update's messages carry, as `tools` events."""
        parts: list[tuple[str, Any, str | None]] = []
        for value in values.values():
            if not isinstance(value, list):
                continue
            for message in value:
                if not isinstance(message, Mapping):
                    continue
                for call in message.get("tool_calls") or ():
                    call_id = str(call.get("id") or "")
                    if call_id and call_id not in self.started_tools:
                        self.started_tools.add(call_id)
                        started = {
                            "event": "tool-started",
                            "tool_call_id": call_id,
                            "tool_name": call.get("name", ""),
                            "input": call.get("args", {}),
                        }
                        parts.append(("tools", started, node))
                if message.get("type") == "tool" and message.get("tool_call_id"):
                    finished = {
                        "event": "tool-error"
                        if message.get("status") == "error"
                        else "tool-finished",
                        "tool_call_id": message["tool_call_id"],
                    }
                    if finished["event"] == "tool-error":
                        finished["message"] = text_of(message.get("content"))
                    else:
                        finished["output"] = message.get("content")
                    parts.append(("tools", finished, node))
        return parts


def text_of(content: Any) -> str:
    """The text of a LangChain message content (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            b if isinstance(b, str) else str(b.get("text", ""))
            for b in content
            if isinstance(b, str) or (isinstance(b, Mapping) and b.get("type") == "text")
        )
    return ""


def checkpoint_part(data: Mapping[str, Any]) -> dict[str, Any]:
    """A v1 `checkpoints` part as the protocol's Checkpoint {id, parent_id, step, source}."""
    configurable = (data.get("config") or {}).get("configurable") or {}
    parent = ((data.get("parent_config") or {}).get("configurable") or {}).get("checkpoint_id")
    metadata = data.get("metadata") or {}
    part: dict[str, Any] = {
        "id": configurable.get("checkpoint_id"),
        "step": metadata.get("step", 0),
        "source": metadata.get("source", "loop"),
    }
    if parent:
        part["parent_id"] = parent
    return part


def thread_follower(session: Any, since: int | None) -> ThreadFollower:
    """Where a stream of `session` starts: after `since`, else at its latest run."""
    if since is not None:
        return ThreadFollower(session.pk, after=log_id_of(since))
    return ThreadFollower(session.pk, from_run=latest_run_pk(session))


class ProtocolEventFrames:
    """`http_streams.follow` frame function: protocol events as SSE frames."""

    def __init__(self, projection: Projection) -> None:
        self.projection = projection

    def __call__(self, event: Event) -> bytes:
        import json

        frames = []
        for envelope in self.projection.events(event):
            body = json.dumps(envelope, separators=(",", ":"), default=str)
            frames.append(f"id: {envelope['seq']}\nevent: {envelope['method']}\ndata: {body}\n\n")
        return "".join(frames).encode()
