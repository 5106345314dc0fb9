"""What a node type is: its keys, its checks, its LangGraph nodes and how it is drawn.

A node type is one class (one module) deriving from `NodeType`; the registry
(`yamlgraph.node_types`) lists them. The loader, the validator, the Mermaid writer and
the admin's picture all ask the node's type instead of testing `node.type` themselves,
so adding a type touches no other module.

This module also holds the small checks every node type shares (templates, prompts,
writable state keys, `on_error`), so the types report problems the same way: each
with its file, YAML path and line.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from yamlgraph.errors import ValidationIssue, did_you_mean
from yamlgraph.prompts import find_prompt, prompt_candidates
from yamlgraph.state_keys import internal_key_problem
from yamlgraph.yaml_source import LineMap, YamlPath, format_path

if TYPE_CHECKING:
    from yamlgraph.graph_model import GraphConfig, NodeConfig

#: Keys of the nodes that ask a chat model which model to ask.
MODEL_KEYS = frozenset({"provider", "model", "temperature", "responses"})
#: The keys of an `llm` node (routers and agents start from them).
LLM_KEYS = MODEL_KEYS | {
    "prompt",
    "variables",
    "state_key",
    "parse_json",
    "requires",
    "skip_if_exists",
    "stream",
}
#: The error-handling properties of graph-yaml.md, on the nodes that call a model.
ERROR_KEYS = frozenset({"on_error", "max_retries", "fallback"})
ON_ERROR_VALUES = ("skip", "retry", "fail", "fallback")
#: Keys every node takes, whatever its type.
COMMON_NODE_KEYS = frozenset({"type", "description"})
ERRORS_KEY = "errors"  # where on_error: skip records what it skipped
ROUTE_KEY = "_route"  # the channel `type: conditional` edges follow


class Collector:
    """Gathers issues with their lines so validation can continue past the first."""

    def __init__(self, file: str, lines: LineMap):
        self.file = file
        self.lines = lines
        self.issues: list[ValidationIssue] = []
        self.check_environment = True  # see config.load_graph_source

    def add(self, path: YamlPath, message: str) -> None:
        self.issues.append(
            ValidationIssue(self.file, format_path(path), self.lines.line(path), message)
        )

    def unknown_keys(self, mapping: dict, known: set[str], path: YamlPath, what: str) -> None:
        for key in mapping:
            if key not in known:
                self.add((*path, key), f"unknown {what} key '{key}'{did_you_mean(key, known)}")


def mapping(value: Any) -> dict:
    """`value` if it is a mapping, else {} (its own check reports the wrong type)."""
    return value if isinstance(value, dict) else {}


def is_key_name(key: Any) -> bool:
    """Whether `key` can name a state field (a Python identifier, not a keyword)."""
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)


def check_writable_key(key: Any, path: YamlPath, issues: Collector) -> None:
    """A state key a node writes must be a plain identifier and not one of the engine's own."""
    if not is_key_name(key):
        issues.add(path, f"'{key}' cannot be a state key: use a plain identifier")
    elif problem := internal_key_problem(key):
        issues.add(path, problem)


def check_templates(value: Any, path: YamlPath, issues: Collector) -> None:
    """Every string inside `value` must be a template the engine can render."""
    from yamlgraph.templates import check_template

    if isinstance(value, str):
        for problem in check_template(value):
            issues.add(path, f"bad template: {problem}")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_templates(item, (*path, key), issues)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_templates(item, (*path, index), issues)


def check_prompt(
    spec: dict, path: YamlPath, config: GraphConfig, issues: Collector, required: bool
) -> None:
    """`prompt:` names a prompt file that exists, or is an inline {system, user}."""
    prompt = spec.get("prompt")
    if prompt is None:
        if required:
            issues.add(path, "missing 'prompt' (a prompt file name or {system, user})")
        return
    if isinstance(prompt, dict):
        issues.unknown_keys(prompt, {"system", "user"}, (*path, "prompt"), "prompt")
        if "user" not in prompt and "system" not in prompt:
            issues.add((*path, "prompt"), "an inline prompt needs 'user' and/or 'system'")
        check_templates(prompt, (*path, "prompt"), issues)
        return
    if not isinstance(prompt, str):
        issues.add((*path, "prompt"), "must be a prompt file name or {system, user}")
        return
    if find_prompt(config, prompt) is None:
        tried = ", ".join(str(c) for c in prompt_candidates(config, prompt))
        issues.add((*path, "prompt"), f"prompt file '{prompt}' not found (looked in {tried})")


@dataclass
class NodeCheck:
    """One node being validated: its spec, where it is in the file, and the graph so far.

    `in_map` is set when the node is a map's `node:` (an item runner, not a graph node).
    """

    name: str
    spec: dict
    path: YamlPath
    config: GraphConfig
    issues: Collector
    node: NodeConfig
    in_map: bool = False

    def add(self, message: str, *keys: str | int) -> None:
        """Report `message` at this node, or at `keys` below it."""
        self.issues.add((*self.path, *keys), message)

    def templates(self, value: Any, *keys: str | int) -> None:
        check_templates(value, (*self.path, *keys), self.issues)

    def writable_key(self, key: Any, *keys: str | int) -> None:
        check_writable_key(key, (*self.path, *keys), self.issues)

    def prompt(self, spec: dict | None = None, required: bool = True) -> None:
        check_prompt(
            self.spec if spec is None else spec, self.path, self.config, self.issues, required
        )

    def tool_declared(self, tool: str) -> bool:
        """Whether `tool` is under `tools:` (a tool that failed its own check counts:
        its problem is already reported there)."""
        return tool in self.config.tools or tool in mapping(self.config.raw.get("tools"))


@dataclass(frozen=True)
class KeyExtension:
    """Keys another module adds to a node type (and to `defaults:`), with their checks.

    A module that gives interrupts new keys (say, who is asked) declares them here and
    is listed in the node type's `extension_modules`, or registers itself with
    `yamlgraph.node_types.register_key_extension`. `check(ctx)` sees the whole node;
    `check_defaults(defaults, issues)` sees the graph's `defaults:` mapping.
    """

    keys: frozenset[str] = frozenset()
    check: Callable[[NodeCheck], None] | None = None
    defaults_keys: frozenset[str] = frozenset()
    check_defaults: Callable[[dict, Collector], None] | None = None


class ItemRunner(Protocol):
    """How a map runs a node of this type on one item (`view` is the state plus the item)."""

    def run(self, view: dict) -> Any: ...

    async def arun(self, view: dict) -> Any: ...


class GraphBuilder(Protocol):
    """What a node type sees of the graph being built (`graph_loader.Builder`)."""

    config: GraphConfig

    def add_node(self, name: str, action: Any, *, counts_for: str | None = None) -> None:
        """Add a LangGraph node; one that `counts_for` a YAML node counts its runs
        for that node's `loop_limits`."""

    def add_edge(self, source: str, target: str) -> None: ...

    def add_conditional_edges(self, source: str, route: Callable, targets: list[str]) -> None: ...

    def compile_child(self, path: Any, own_namespace: bool = False) -> tuple[Any, Any]:
        """(config, compiled app) of a subgraph file, compiled once per parent compile."""


@dataclass(frozen=True)
class Ends:
    """The LangGraph nodes a YAML node is entered by and left from."""

    entry: str
    exit: str


@dataclass
class NodeType:
    """One kind of YAML node. Subclass it, set the class attributes, and override
    `check` and `action` (or `build` when the type needs more than one LangGraph node).
    """

    #: the word after `type:`
    name: ClassVar[str] = ""
    #: what it does, in one line (docs, `python -m yamlgraph types`)
    summary: ClassVar[str] = ""
    #: the keys it takes besides `type` and `description`
    keys: ClassVar[frozenset[str]] = frozenset()
    #: the values `on_error` may take on it
    on_error_values: ClassVar[tuple[str, ...]] = ON_ERROR_VALUES
    #: whether a `map` may run it once per item (then it implements `item_runner`)
    in_map: ClassVar[bool] = False
    #: Mermaid brackets around its label
    mermaid_shape: ClassVar[tuple[str, str]] = ("[", "]")
    #: (fill, border) in the admin's picture; None draws it plain and leaves it out of
    #: the legend
    colours: ClassVar[tuple[str, str] | None] = None
    #: "module:ATTRIBUTE" of KeyExtension objects other modules add to this type
    extension_modules: ClassVar[tuple[str, ...]] = ()

    extensions: list[KeyExtension] = field(default_factory=list)

    # ------------------------------------------------------------------ validation

    def all_keys(self) -> set[str]:
        """Every key the node takes, its extensions' included."""
        extra: set[str] = set()
        for extension in self.extensions:
            extra |= extension.keys
        return set(self.keys) | extra | set(COMMON_NODE_KEYS)

    def check(self, ctx: NodeCheck) -> None:
        """Report what is wrong with the node's own keys (the shared ones are checked
        before this is called)."""

    def check_extensions(self, ctx: NodeCheck) -> None:
        for extension in self.extensions:
            if extension.check is not None:
                extension.check(ctx)

    # ------------------------------------------------------------------ the graph

    def written_keys(self, node: NodeConfig) -> list[str]:
        """State keys the node writes, known before it runs (declared if the state
        does not declare them)."""
        return []

    def writes_route(self, node: NodeConfig) -> bool:
        """Whether the node can set state._route, which `type: conditional` edges follow."""
        return False

    def routes(self, node: NodeConfig) -> dict[str, str]:
        """{label: target} the node chooses among by itself (a router's `routes`): they
        count as edges for reachability and drawing, and are its edges when it has none."""
        return {}

    def action(self, graph: GraphConfig, node: NodeConfig) -> Any:
        """The LangGraph node function (or runnable) of a one-node type."""
        raise NotImplementedError(f"node type '{self.name}' builds no action")

    def build(self, builder: GraphBuilder, node: NodeConfig) -> Ends:
        """Add the node's LangGraph node(s); returns where edges enter and leave it."""
        builder.add_node(node.name, self.action(builder.config, node), counts_for=node.name)
        return Ends(node.name, node.name)

    def inner_names(self, node: NodeConfig) -> list[str]:
        """LangGraph nodes the node adds besides its own name (shown as the node)."""
        return []

    def item_runner(self, graph: GraphConfig, sub: NodeConfig) -> ItemRunner:
        """How a map runs this type on one item (only for `in_map` types)."""
        raise NotImplementedError(f"a map cannot run '{self.name}' nodes")

    # ------------------------------------------------------------------ questions

    def response_schema(self, node: NodeConfig, payload: Any) -> dict[str, Any] | None:
        """The answer a question this node asked takes; None: not a question node (the
        question's own JSON decides)."""
        return None
