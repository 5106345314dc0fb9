"""Graph files as validated, typed configuration.

Parsing and validation happen together so that every problem in a file is reported at
once, each with its file, YAML path and line, before anything runs.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import keyword
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from yamlgraph.errors import GraphValidationError, ValidationIssue
from yamlgraph.yaml_source import LineMap, YamlPath, format_path, load_yaml

START = "START"
END = "END"

TOP_LEVEL_KEYS = {
    "version",
    "name",
    "description",
    "state",
    "nodes",
    "edges",
    "checkpointer",
    "defaults",
    "prompts_dir",
    "prompts_relative",
    "tools",
    "config",
    "loop_limits",
    "loop_exits",
}
DEFAULTS_KEYS = {"provider", "model", "temperature", "prompts_dir", "prompts_relative", "responses"}
STATE_TYPES = {"str", "int", "float", "bool", "list", "dict", "any"}
REDUCERS = {"add", "replace"}
STATE_FIELD_KEYS = {"type", "reducer", "default", "description", "required"}
TOOL_KEYS = {"type", "module", "path", "function", "description"}
EDGE_KEYS = {"from", "to", "condition", "type", "description"}

_LLM_KEYS = {
    "prompt",
    "variables",
    "state_key",
    "provider",
    "model",
    "temperature",
    "parse_json",
    "responses",
}
NODE_KEYS: dict[str, set[str]] = {
    "llm": _LLM_KEYS,
    "router": _LLM_KEYS | {"routes", "default_route"},
    "python": {"tool", "state_key"},
    "passthrough": {"output"},
    "interrupt": {
        "message",
        "prompt",
        "variables",
        "state_key",
        "resume_key",
        "idempotent",
        "provider",
        "model",
        "temperature",
        "responses",
        "choices",
        "response",
    },
    "subgraph": {"graph", "input_mapping", "output_mapping"},
    "map": {"over", "as", "node", "collect"},
}
COMMON_NODE_KEYS = {"type", "description"}
MAP_SUBNODE_TYPES = {"llm", "python", "passthrough"}

# Channels the engine itself uses; graph authors cannot declare or write them.
ROUTE_KEY = "_route"
VISITS_KEY = "_visits"
PAYLOADS_KEY = "_interrupt_payloads"
PRIVATE_KEYS = {ROUTE_KEY, VISITS_KEY, PAYLOADS_KEY}

DEFAULT_INTERRUPT_STATE_KEY = "interrupt_message"
DEFAULT_RESUME_KEY = "user_input"


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
class ToolConfig:
    name: str
    function: str
    module: str | None = None
    path: Path | None = None


@dataclass
class NodeConfig:
    name: str
    type: str
    options: dict[str, Any]

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


def did_you_mean(word: str, choices: set[str] | list[str]) -> str:
    match = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


class _Collector:
    """Gathers issues with their lines so validation can continue past the first."""

    def __init__(self, file: str, lines: LineMap):
        self.file = file
        self.lines = lines
        self.issues: list[ValidationIssue] = []

    def add(self, path: YamlPath, message: str) -> None:
        self.issues.append(
            ValidationIssue(self.file, format_path(path), self.lines.line(path), message)
        )

    def unknown_keys(self, mapping: dict, known: set[str], path: YamlPath, what: str) -> None:
        for key in mapping:
            if key not in known:
                self.add((*path, key), f"unknown {what} key '{key}'{did_you_mean(key, known)}")


def load_graph_source(source: str, file: str | Path | None = None) -> GraphConfig:
    """Parse and validate graph YAML text; `file` anchors relative paths and error messages."""
    path = Path(file).resolve() if file is not None else None
    display = str(file) if file is not None else "<string>"
    try:
        data, lines = load_yaml(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start is not None and start.line + 1 != line:
            # e.g. an unclosed quote: the problem shows at the end, the cause where it began
            problem += f" ({context} on line {start.line + 1})"
        raise GraphValidationError(
            [ValidationIssue(display, "", line, f"invalid YAML: {problem}")]
        ) from None
    collector = _Collector(display, lines)
    if not isinstance(data, dict):
        collector.add((), "a graph file must be a YAML mapping with 'nodes' and 'edges'")
        raise GraphValidationError(collector.issues)
    config = _parse(data, source, path, collector)
    if collector.issues:
        raise GraphValidationError(collector.issues)
    return config


def _parse(data: dict, source: str, file: Path | None, issues: _Collector) -> GraphConfig:
    issues.unknown_keys(data, TOP_LEVEL_KEYS, (), "top-level")
    name = data.get("name") or (file.stem if file else "graph")
    config = GraphConfig(
        name=str(name),
        source=source,
        file=file,
        version=str(data.get("version", "1.0")),
        description=str(data.get("description") or ""),
        raw=data,
    )
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        issues.add(("defaults",), "must be a mapping")
        defaults = {}
    issues.unknown_keys(defaults, DEFAULTS_KEYS, ("defaults",), "defaults")
    responses = defaults.get("responses")
    if responses is not None and not (
        isinstance(responses, list)
        or (isinstance(responses, dict) and all(isinstance(v, list) for v in responses.values()))
    ):
        issues.add(("defaults", "responses"), "must be a list, or a mapping of node: list")
    config.defaults = defaults
    config.prompts_dir = data.get("prompts_dir", defaults.get("prompts_dir"))
    config.prompts_relative = data.get("prompts_relative", defaults.get("prompts_relative"))

    checkpointer = data.get("checkpointer")
    if isinstance(checkpointer, str):
        checkpointer = {"type": checkpointer}
    if checkpointer is not None and not (isinstance(checkpointer, dict) and "type" in checkpointer):
        issues.add(("checkpointer",), "must be a type name or a mapping with 'type'")
        checkpointer = None
    config.checkpointer = checkpointer

    run_config = data.get("config") or {}
    if not isinstance(run_config, dict):
        issues.add(("config",), "must be a mapping")
        run_config = {}
    limit = run_config.get("recursion_limit")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        issues.add(("config", "recursion_limit"), "must be a positive integer")
    config.config = run_config

    _parse_state(data.get("state") or {}, config, issues)
    _parse_tools(data.get("tools") or {}, config, issues)
    _parse_nodes(data.get("nodes"), config, issues)
    _parse_edges(data.get("edges"), config, issues)
    _parse_loops(data, config, issues)
    _declare_written_keys(config, issues)
    _check_graph_shape(config, issues)
    return config


def _parse_state(state: Any, config: GraphConfig, issues: _Collector) -> None:
    if not isinstance(state, dict):
        issues.add(("state",), "must be a mapping of field: type")
        return
    for name, spec in state.items():
        path = ("state", name)
        if not _is_key_name(name):
            issues.add(path, f"'{name}' is not a valid state field name")
            continue
        field_ = StateField(name=name)
        if isinstance(spec, str):
            field_.type = spec
        elif isinstance(spec, dict):
            issues.unknown_keys(spec, STATE_FIELD_KEYS, path, "state field")
            field_.type = spec.get("type", "any")
            field_.reducer = spec.get("reducer")
            if not isinstance(field_.type, str) or not isinstance(field_.reducer, str | None):
                issues.add(path, "'type' and 'reducer' must be names")
                continue
            if "default" in spec:
                field_.default = spec["default"]
                field_.has_default = True
            field_.required = spec.get("required", False)
            if not isinstance(field_.required, bool):
                issues.add((*path, "required"), "must be true or false")
            elif field_.required and field_.has_default:
                issues.add((*path, "required"), "a required field cannot also have a default")
            if field_.reducer is not None and field_.reducer not in REDUCERS:
                issues.add(
                    (*path, "reducer"),
                    f"unknown reducer '{field_.reducer}'; known: {', '.join(sorted(REDUCERS))}",
                )
        elif spec is None:
            field_.type = "any"
        else:
            issues.add(path, "must be a type name or a mapping with 'type'")
            continue
        if field_.type not in STATE_TYPES:
            issues.add(
                path,
                f"unknown state type '{field_.type}'{did_you_mean(field_.type, STATE_TYPES)};"
                f" known: {', '.join(sorted(STATE_TYPES))}",
            )
        if field_.reducer == "add" and field_.type not in {"list", "int", "float", "any", "str"}:
            issues.add(path, f"reducer 'add' cannot combine values of type '{field_.type}'")
        config.state[name] = field_


def _parse_tools(tools: Any, config: GraphConfig, issues: _Collector) -> None:
    if not isinstance(tools, dict):
        issues.add(("tools",), "must be a mapping of tool name to {module|path, function}")
        return
    for name, spec in tools.items():
        path = ("tools", name)
        if not isinstance(spec, dict):
            issues.add(path, "must be a mapping with 'module' or 'path', and 'function'")
            continue
        issues.unknown_keys(spec, TOOL_KEYS, path, "tool")
        function = spec.get("function")
        if not function:
            issues.add(path, "missing 'function'")
            continue
        module, file = spec.get("module"), spec.get("path")
        if bool(module) == bool(file):
            issues.add(path, "give exactly one of 'module' or 'path'")
            continue
        if not isinstance(module or file, str) or not isinstance(function, str):
            issues.add(path, "'module', 'path' and 'function' must be strings")
            continue
        tool = ToolConfig(name=name, function=str(function), module=module)
        if file:
            tool.path = config.resolve_path(file)
            if not tool.path.is_file():
                issues.add((*path, "path"), f"tool file not found: {tool.path}")
                continue
        try:
            target = load_tool_function(tool)
        except ImportError as exc:
            issues.add(path, f"cannot import tool: {exc}")
            continue
        except AttributeError:
            where = tool.module or tool.path
            issues.add((*path, "function"), f"function '{function}' not found in {where}")
            continue
        except Exception as exc:  # the tool's own code failed while importing
            issues.add(path, f"cannot import tool: {type(exc).__name__}: {exc}")
            continue
        if not callable(target):
            issues.add((*path, "function"), f"'{function}' is not callable")
            continue
        config.tools[name] = tool


def load_tool_function(tool: ToolConfig) -> Any:
    """Import a tool's function from a module name or a file path."""
    if tool.module:
        module = importlib.import_module(tool.module)
    else:
        assert tool.path is not None
        module_name = f"yamlgraph_tools_{abs(hash(str(tool.path)))}"
        spec = importlib.util.spec_from_file_location(module_name, tool.path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {tool.path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return getattr(module, tool.function)


def _parse_nodes(nodes: Any, config: GraphConfig, issues: _Collector) -> None:
    if not isinstance(nodes, dict) or not nodes:
        issues.add(("nodes",), "a graph needs a 'nodes' mapping with at least one node")
        return
    for name, spec in nodes.items():
        path = ("nodes", name)
        if not isinstance(name, str) or not name.replace("-", "_").isidentifier():
            issues.add(path, f"'{name}' is not a valid node name (letters, digits, _ and -)")
            continue
        if name in {START, END} or "__" in name:
            issues.add(path, f"'{name}' is a reserved node name")
            continue
        if not isinstance(spec, dict):
            issues.add(path, "a node must be a mapping with a 'type'")
            continue
        node = _parse_node(name, spec, path, config, issues)
        if node:
            config.nodes[name] = node


def _parse_node(
    name: str, spec: dict, path: YamlPath, config: GraphConfig, issues: _Collector
) -> NodeConfig | None:
    node_type = spec.get("type", "llm")
    if not isinstance(node_type, str) or node_type not in NODE_KEYS:
        issues.add(
            (*path, "type"),
            f"unknown node type '{node_type}'{did_you_mean(node_type, set(NODE_KEYS))};"
            f" known: {', '.join(sorted(NODE_KEYS))}",
        )
        return None
    issues.unknown_keys(spec, NODE_KEYS[node_type] | COMMON_NODE_KEYS, path, f"{node_type} node")
    node = NodeConfig(name=name, type=node_type, options=dict(spec))
    for key in ("state_key", "resume_key", "collect"):
        if key in spec:
            _check_writable_key(spec[key], (*path, key), issues)
    if "responses" in spec and not isinstance(spec["responses"], list):
        issues.add((*path, "responses"), "must be a list of scripted answers")
    if node_type in {"llm", "router"}:
        _check_prompt(spec, path, config, issues, required=True)
        _check_templates(spec.get("variables"), (*path, "variables"), issues)
    if node_type == "router":
        routes = spec.get("routes")
        if not isinstance(routes, dict) or not routes:
            issues.add((*path, "routes"), "a router needs 'routes': {answer: node}")
    elif node_type == "python":
        tool = spec.get("tool")
        if not tool:
            issues.add(path, "a python node needs 'tool' (a name under 'tools:')")
        elif not isinstance(tool, str):
            issues.add((*path, "tool"), "must be the name of an entry under 'tools:'")
        elif tool not in config.tools and tool not in _mapping(config.raw.get("tools")):
            issues.add(
                (*path, "tool"),
                f"unknown tool '{tool}'{did_you_mean(tool, set(config.tools))}",
            )
    elif node_type == "passthrough":
        output = spec.get("output")
        if not isinstance(output, dict) or not output:
            issues.add((*path, "output"), "a passthrough node needs 'output': {key: template}")
        else:
            for key, template in output.items():
                _check_writable_key(key, (*path, "output", key), issues)
                _check_templates(template, (*path, "output", key), issues)
    elif node_type == "interrupt":
        from yamlgraph.answers import schema_problems

        if "message" not in spec and "prompt" not in spec:
            issues.add(path, "an interrupt node needs 'message' (or 'prompt')")
        for subpath, problem in schema_problems(spec):
            issues.add((*path, *subpath), problem)
        _check_templates(spec.get("message"), (*path, "message"), issues)
        if "prompt" in spec:
            _check_prompt(spec, path, config, issues, required=True)
        state_key = spec.get("state_key", DEFAULT_INTERRUPT_STATE_KEY)
        if state_key == spec.get("resume_key", DEFAULT_RESUME_KEY):
            issues.add(
                (*path, "resume_key"),
                f"resume_key '{state_key}' is also the state_key: the answer would overwrite"
                " the question",
            )
    elif node_type == "subgraph":
        _check_subgraph(spec, path, config, issues)
    elif node_type == "map":
        _check_map(name, spec, path, config, issues)
    return node


def _mapping(value: Any) -> dict:
    """`value` if it is a mapping, else {} (its own check reports the wrong type)."""
    return value if isinstance(value, dict) else {}


def _is_key_name(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)


def _check_writable_key(key: Any, path: YamlPath, issues: _Collector) -> None:
    if not _is_key_name(key):
        issues.add(path, f"'{key}' cannot be a state key: use a plain identifier")
    elif key.startswith("_"):
        issues.add(path, f"'{key}' cannot be a state key: names starting with '_' are internal")


def _check_templates(value: Any, path: YamlPath, issues: _Collector) -> None:
    from yamlgraph.templates import check_template

    if isinstance(value, str):
        for problem in check_template(value):
            issues.add(path, f"bad template: {problem}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_templates(item, (*path, key), issues)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_templates(item, (*path, index), issues)


def prompt_candidates(config: GraphConfig, name: str) -> list[Path]:
    """Where a named prompt may live: the graph's prompts dir first, then the working dir's."""
    prompts_dir = config.prompts_dir or "prompts"
    file_name = name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"
    relative_to_graph = config.resolve_path(prompts_dir) / file_name
    relative_to_cwd = Path(prompts_dir) / file_name
    if config.prompts_relative is False:
        return [relative_to_cwd]
    if config.prompts_relative is True:
        return [relative_to_graph]
    return [relative_to_graph, relative_to_cwd]


def _check_prompt(
    spec: dict, path: YamlPath, config: GraphConfig, issues: _Collector, required: bool
) -> None:
    prompt = spec.get("prompt")
    if prompt is None:
        if required:
            issues.add(path, "missing 'prompt' (a prompt file name or {system, user})")
        return
    if isinstance(prompt, dict):
        issues.unknown_keys(prompt, {"system", "user"}, (*path, "prompt"), "prompt")
        if "user" not in prompt and "system" not in prompt:
            issues.add((*path, "prompt"), "an inline prompt needs 'user' and/or 'system'")
        _check_templates(prompt, (*path, "prompt"), issues)
        return
    if not isinstance(prompt, str):
        issues.add((*path, "prompt"), "must be a prompt file name or {system, user}")
        return
    candidates = prompt_candidates(config, prompt)
    if not any(candidate.is_file() for candidate in candidates):
        tried = ", ".join(str(c) for c in candidates)
        issues.add((*path, "prompt"), f"prompt file '{prompt}' not found (looked in {tried})")


def _check_subgraph(spec: dict, path: YamlPath, config: GraphConfig, issues: _Collector) -> None:
    graph = spec.get("graph")
    if not graph or not isinstance(graph, str):
        issues.add(path, "a subgraph node needs 'graph' (a YAML file path)")
        return
    child = config.resolve_path(graph)
    if not child.is_file():
        issues.add((*path, "graph"), f"subgraph file not found: {child}")
        return
    if config.file is not None and child.resolve() == config.file:
        issues.add((*path, "graph"), "a graph cannot include itself")
        return
    try:
        load_graph_source(child.read_text(), child)
    except GraphValidationError as exc:
        for issue in exc.issues:
            issues.add((*path, "graph"), f"invalid subgraph: {issue}")
    for key in ("input_mapping", "output_mapping"):
        mapping = spec.get(key)
        if mapping is not None and not isinstance(mapping, dict):
            issues.add((*path, key), "must be a mapping")
    for key in spec.get("output_mapping") or {}:
        _check_writable_key(key, (*path, "output_mapping", key), issues)


def _check_map(name: str, spec: dict, path: YamlPath, config: GraphConfig, issues: _Collector):
    for key in ("over", "as", "node"):
        if key not in spec:
            issues.add(path, f"a map node needs '{key}'")
    _check_templates(spec.get("over"), (*path, "over"), issues)
    sub = spec.get("node")
    if isinstance(sub, dict):
        sub_type = sub.get("type", "llm")
        if not isinstance(sub_type, str) or sub_type not in MAP_SUBNODE_TYPES:
            issues.add(
                (*path, "node", "type"),
                f"a map can run {', '.join(sorted(MAP_SUBNODE_TYPES))} nodes, not '{sub_type}'",
            )
        else:
            _parse_node(f"{name}_item", sub, (*path, "node"), config, issues)
    elif sub is not None:
        issues.add((*path, "node"), "must be a node mapping with a 'type'")


def _parse_edges(edges: Any, config: GraphConfig, issues: _Collector) -> None:
    from yamlgraph.expressions import ExpressionError, compile_expression

    if not isinstance(edges, list) or not edges:
        issues.add(("edges",), "a graph needs an 'edges' list (start with {from: START, to: ...})")
        return
    known = set(config.nodes) | {START, END}
    all_nodes = set(_mapping(config.raw.get("nodes"))) | {START, END}
    for index, spec in enumerate(edges):
        path = ("edges", index)
        if not isinstance(spec, dict):
            issues.add(path, "an edge must be a mapping with 'from' and 'to'")
            continue
        issues.unknown_keys(spec, EDGE_KEYS, path, "edge")
        if "from" not in spec or "to" not in spec:
            issues.add(path, "an edge needs 'from' and 'to'")
            continue
        sources = spec["from"] if isinstance(spec["from"], list) else [spec["from"]]
        targets = spec["to"] if isinstance(spec["to"], list) else [spec["to"]]
        edge = EdgeConfig(sources=[str(s) for s in sources], targets=[str(t) for t in targets])
        edge.index = index
        ok = True
        for key, names in (("from", edge.sources), ("to", edge.targets)):
            if not names:
                issues.add((*path, key), "needs at least one node")
                ok = False
        for key, names in (("from", edge.sources), ("to", edge.targets)):
            for name in names:
                if name not in all_nodes:
                    issues.add((*path, key), f"unknown node '{name}'{did_you_mean(name, known)}")
                    ok = False
        if END in edge.sources:
            issues.add((*path, "from"), "an edge cannot start at END")
            ok = False
        if START in edge.targets:
            issues.add((*path, "to"), "an edge cannot lead to START")
            ok = False
        edge_type = spec.get("type")
        if edge_type not in (None, "conditional", "normal"):
            issues.add((*path, "type"), f"unknown edge type '{edge_type}' (use 'conditional')")
        edge.conditional = edge_type == "conditional"
        if "condition" in spec:
            edge.condition = str(spec["condition"])
            try:
                compile_expression(edge.condition)
            except ExpressionError as exc:
                issues.add((*path, "condition"), f"bad condition: {exc}")
                ok = False
        if edge.conditional and edge.condition is None:
            routers = [s for s in edge.sources if _node_type(config, s) == "router"]
            if not routers:
                issues.add(
                    (*path, "to"),
                    "a conditional 'to:' list without a way to choose: the source is not a"
                    " router, and the edge has no 'condition'",
                )
                ok = False
        if (edge.condition or edge.conditional) and len(edge.sources) > 1:
            issues.add((*path, "from"), "a conditional edge must start at a single node")
            ok = False
        if ok:
            config.edges.append(edge)


def _node_type(config: GraphConfig, name: str) -> str | None:
    node = config.nodes.get(name)
    return node.type if node else None


def _parse_loops(data: dict, config: GraphConfig, issues: _Collector) -> None:
    limits = data.get("loop_limits") or {}
    exits = data.get("loop_exits") or {}
    if not isinstance(limits, dict):
        issues.add(("loop_limits",), "must be a mapping of node: max runs")
        limits = {}
    if not isinstance(exits, dict):
        issues.add(("loop_exits",), "must be a mapping of node: target")
        exits = {}
    for node, limit in limits.items():
        if node not in config.nodes:
            issues.add(("loop_limits", node), f"unknown node '{node}'")
        elif not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            issues.add(("loop_limits", node), "must be a positive integer")
        else:
            config.loop_limits[node] = limit
    for node, target in exits.items():
        if node not in config.nodes:
            issues.add(("loop_exits", node), f"unknown node '{node}'")
        elif not isinstance(target, str) or (target != END and target not in config.nodes):
            issues.add(("loop_exits", node), f"unknown target node '{target}'")
        else:
            config.loop_exits[node] = target


def written_keys(node: NodeConfig) -> list[str]:
    """State keys a node writes, known before it runs."""
    spec = node.options
    if node.type in {"llm", "router"}:
        return [spec.get("state_key", node.name)]
    if node.type == "python":
        return [spec["state_key"]] if spec.get("state_key") else []
    if node.type == "passthrough":
        return list(_mapping(spec.get("output")))
    if node.type == "interrupt":
        return [
            spec.get("state_key", DEFAULT_INTERRUPT_STATE_KEY),
            spec.get("resume_key", DEFAULT_RESUME_KEY),
        ]
    if node.type == "subgraph":
        return list(_mapping(spec.get("output_mapping")))
    if node.type == "map":
        return [spec.get("collect", node.name)]
    return []


def _declare_written_keys(config: GraphConfig, issues: _Collector) -> None:
    for node in config.nodes.values():
        for key in written_keys(node):
            if _is_key_name(key) and key not in config.state:
                config.state[key] = StateField(name=key, declared=False)
    for key in PRIVATE_KEYS:
        config.state.pop(key, None)


def _edge_links(config: GraphConfig) -> list[tuple[list[str], list[str]]]:
    """(sources, targets) of every edge written in the file, accepted or not."""
    links = []
    for spec in config.raw.get("edges") or []:
        if isinstance(spec, dict) and "from" in spec and "to" in spec:
            sources = spec["from"] if isinstance(spec["from"], list) else [spec["from"]]
            targets = spec["to"] if isinstance(spec["to"], list) else [spec["to"]]
            links.append(([str(s) for s in sources], [str(t) for t in targets]))
    return links


def _check_graph_shape(config: GraphConfig, issues: _Collector) -> None:
    if not config.nodes or not config.edges:
        return
    # Edges rejected above (bad condition, no way to choose...) still count here, so one
    # mistake in an edge is one error, not also "node ... is not reachable".
    links = _edge_links(config)
    if not any(START in sources for sources, _ in links):
        issues.add(("edges",), "no edge starts at START")
        return
    successors: dict[str, set[str]] = {}
    for sources, targets in links:
        for source in sources:
            successors.setdefault(source, set()).update(targets)
    for name, node in config.nodes.items():
        if node.type == "router":
            successors.setdefault(name, set()).update(
                t for t in _mapping(node.get("routes")).values() if isinstance(t, str)
            )
    for name, target in config.loop_exits.items():
        successors.setdefault(name, set()).add(target)
    for name, node in config.nodes.items():
        if node.type == "router":
            for label, target in _mapping(node.get("routes")).items():
                if target not in config.nodes and target != END:
                    issues.add(
                        ("nodes", name, "routes", label),
                        f"route '{label}' goes to unknown node '{target}'"
                        f"{did_you_mean(target, set(config.nodes))}",
                    )
    seen, frontier = {START}, [START]
    while frontier:
        for nxt in successors.get(frontier.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    for name in config.nodes:
        if name not in seen:
            issues.add(("nodes", name), f"node '{name}' is not reachable from START by any edge")
