"""What a validated graph file is: its state fields, nodes, edges and settings.

Plain data, apart from the parser (`yamlgraph.config`), so the node types
(`yamlgraph.node_types`) can name these types without importing the parser that
asks them to check their keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yamlgraph.graph_tools import ToolConfig

START = "START"
END = "END"

# Channels the engine itself uses; graph authors cannot declare or write them.
ROUTE_KEY = "_route"
VISITS_KEY = "_loop_counts"  # yamlgraph's name: templates read {state._loop_counts.node}
PAYLOADS_KEY = "_interrupt_payloads"
RELAY_KEY = "_subgraph_relay"  # a paused child of a subgraph with interrupt_output_mapping
PRIVATE_KEYS = {ROUTE_KEY, VISITS_KEY, PAYLOADS_KEY, RELAY_KEY}


@dataclass
class StateField:
    name: str
    type: str = "any"
    reducer: str | None = None
    default: Any = None
    has_default: bool = False
    required: bool = False  # `required: true`: a session cannot start without it
    declared: bool = True  # False when the engine declared it because a node writes it


@dataclass
class NodeConfig:
    name: str
    type: str
    options: dict[str, Any]
    #: mode: direct subgraphs read and write the child's state fields by name
    child_fields: dict[str, StateField] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


@dataclass
class EdgeConfig:
    sources: list[str]
    targets: list[str]
    condition: str | None = None
    conditional: bool = False  # `type: conditional`: route on state._route
    index: int = 0


@dataclass
class GraphConfig:
    """A validated graph file. `source` is the exact text it was loaded from."""

    name: str
    source: str
    file: Path | None
    version: str = "1.0"
    description: str = ""
    state: dict[str, StateField] = field(default_factory=dict)
    nodes: dict[str, NodeConfig] = field(default_factory=dict)
    edges: list[EdgeConfig] = field(default_factory=list)
    checkpointer: dict[str, Any] | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, ToolConfig] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    loop_limits: dict[str, int] = field(default_factory=dict)
    loop_exits: dict[str, str] = field(default_factory=dict)
    exports: dict[str, dict] = field(default_factory=dict)
    prompts_dir: str | None = None
    prompts_relative: bool | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        return self.file.parent if self.file else Path.cwd()

    @property
    def public_state_fields(self) -> dict[str, StateField]:
        return {k: v for k, v in self.state.items() if k not in PRIVATE_KEYS}

    def resolve_path(self, relative: str | Path) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else self.base_dir / path
