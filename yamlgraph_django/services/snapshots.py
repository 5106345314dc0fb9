"""Reading LangGraph snapshots and shaping them as the app shows them.

Checkpoints hold the truth about a session's values; these functions turn a snapshot
into JSON-safe data with the YAML's names: engine-private values (leading underscore)
are hidden and the engine's helper nodes (`ask__prompt`) are shown as the node the
graph author wrote (`ask`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder

from yamlgraph.config import yaml_node_name
from yamlgraph.graph_loader import DEFAULTS_NODE
from yamlgraph_django.services.answers import with_response_schemas

if TYPE_CHECKING:
    from yamlgraph.config import GraphConfig
    from yamlgraph_django.models import Session

#: The state of a session with no checkpoint yet (queued, or failed before its first step).
EMPTY_STATE: dict[str, Any] = {
    "values": {},
    "next": [],
    "interrupts": [],
    "checkpoint_id": None,
    "created_at": None,
}


class _LenientEncoder(DjangoJSONEncoder):
    """JSON for state shown to people and clients: LangChain messages as their dicts,
    sets as lists, anything else as its str(), so an odd value never breaks a page."""

    def default(self, o: Any) -> Any:
        if hasattr(o, "model_dump") and callable(o.model_dump):
            return o.model_dump()
        if isinstance(o, set | frozenset):
            return list(o)
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def json_safe(value: Any) -> Any:
    """`value` as plain JSON data (what JSONField stores and the API returns)."""
    return json.loads(json.dumps(value, cls=_LenientEncoder))


def thread_config(session: Session, checkpoint_id: str | None = None) -> dict[str, Any]:
    """The LangGraph config addressing the session's thread (at one checkpoint)."""
    configurable: dict[str, Any] = {"thread_id": session.thread_id}
    if checkpoint_id:
        configurable["checkpoint_ns"] = ""
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def checkpoint_id_of(config: Mapping[str, Any] | None) -> str | None:
    return ((config or {}).get("configurable") or {}).get("checkpoint_id")


def public_values(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """State values without engine-private keys (leading underscore), JSON-safe."""
    return json_safe({k: v for k, v in (values or {}).items() if not str(k).startswith("_")})


def interrupts_of(snapshot: Any, config: GraphConfig | None = None) -> list[dict[str, Any]]:
    """Pending interrupts of a snapshot as [{id, value}], plus each one's
    `response_schema` (what answer it takes) when the graph's config is given."""
    items = [{"id": i.id, "value": json_safe(i.value)} for i in (snapshot.interrupts or ())]
    return items if config is None else with_response_schemas(config, snapshot, items)


def has_checkpoint(snapshot: Any) -> bool:
    """False for the empty snapshot LangGraph returns for a thread with no checkpoint."""
    return bool(checkpoint_id_of(snapshot.config))


def is_finished(snapshot: Any) -> bool:
    """Has the graph reached its end? Judged by `tasks`, not `next`.

    LangGraph leaves a task out of `next` once its writes are saved, so between saving a
    step's writes and the next checkpoint `next` is empty although work remains. A
    finished graph has no tasks at all.
    """
    return has_checkpoint(snapshot) and not snapshot.tasks and not snapshot.next


def node_name(config: GraphConfig, raw: str) -> str:
    """The YAML name of a LangGraph node: `ask__prompt` is `ask`; `__start__` and the
    engine's defaults step are START."""
    if raw in ("__start__", DEFAULTS_NODE):
        return "START"
    return yaml_node_name(config, raw)


def node_names(config: GraphConfig, raw: Iterable[str]) -> list[str]:
    """YAML names of `raw`, in order, without duplicates."""
    return list(dict.fromkeys(node_name(config, name) for name in raw))


def parse_time(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def state_of(config: GraphConfig, snapshot: Any) -> dict[str, Any]:
    """A snapshot as the app shows it: {values, next, interrupts, checkpoint_id, created_at}."""
    if not has_checkpoint(snapshot):
        return dict(EMPTY_STATE)
    return {
        "values": public_values(snapshot.values),
        "next": node_names(config, snapshot.next),
        "interrupts": interrupts_of(snapshot, config),
        "checkpoint_id": checkpoint_id_of(snapshot.config),
        "created_at": parse_time(snapshot.created_at),
    }


def history_entry(config: GraphConfig, snapshot: Any, writers: list[str]) -> dict[str, Any]:
    """One checkpoint of a session's history; `writers` are the nodes that made it."""
    metadata = snapshot.metadata or {}
    return {
        "checkpoint_id": checkpoint_id_of(snapshot.config),
        "parent_checkpoint_id": checkpoint_id_of(snapshot.parent_config),
        "step": metadata.get("step"),
        "source": metadata.get("source"),
        "nodes": writers,
        "created_at": parse_time(snapshot.created_at),
        "next": node_names(config, snapshot.next),
        "interrupts": interrupts_of(snapshot, config),
    }
