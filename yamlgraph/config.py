"""Graph files as validated, typed configuration.

Parsing and validation happen together so that every problem in a file is reported at
once, each with its file, YAML path and line, before anything runs.
"""

from __future__ import annotations

import contextlib
import copy
import keyword
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from yamlgraph.assignment import DEFAULTS_KEYS as ASSIGNMENT_DEFAULTS_KEYS
from yamlgraph.assignment import NODE_KEYS as ASSIGNMENT_NODE_KEYS
from yamlgraph.assignment import check_defaults as check_assignment_defaults
from yamlgraph.assignment import check_interrupt as check_assignment
from yamlgraph.document import check_checkpointer, check_top_level, root_problem
from yamlgraph.errors import GraphValidationError, ValidationIssue, did_you_mean
from yamlgraph.graph_tools import SHELL_PARSE_MODES, ToolConfig, load_tool_function
from yamlgraph.prompts import find_prompt, prompt_candidates
from yamlgraph.yaml_source import (
    LineMap,
    YamlPath,
    YamlSourceError,
    format_path,
    load_yaml,
    read_source,
)

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
    "exports",
}
DEFAULTS_KEYS = {
    "provider",
    "model",
    "temperature",
    "prompts_dir",
    "prompts_relative",
    "responses",
} | ASSIGNMENT_DEFAULTS_KEYS
STATE_TYPES = {"str", "int", "float", "bool", "list", "dict", "any"}
REDUCERS = {"add", "replace"}
STATE_FIELD_KEYS = {"type", "reducer", "default", "description", "required"}
TOOL_KEYS = {"type", "module", "path", "function", "description"}
SHELL_TOOL_KEYS = {
    "type",
    "command",
    "description",
    "parse",
    "timeout",
    "working_dir",
    "env",
    "success_codes",
}
EDGE_KEYS = {"from", "to", "condition", "type", "description"}

_MODEL_KEYS = {"provider", "model", "temperature", "responses"}
_LLM_KEYS = _MODEL_KEYS | {
    "prompt",
    "variables",
    "state_key",
    "parse_json",
    "requires",
    "skip_if_exists",
    "stream",
}
#: The error-handling properties of graph-yaml.md, on the nodes that call a model.
ERROR_KEYS = {"on_error", "max_retries", "fallback"}
ON_ERROR_VALUES = ("skip", "retry", "fail", "fallback")
NODE_KEYS: dict[str, set[str]] = {
    "llm": _LLM_KEYS | ERROR_KEYS,
    "router": _LLM_KEYS | ERROR_KEYS | {"routes", "default_route", "route_field"},
    "agent": _LLM_KEYS - {"stream"} | ERROR_KEYS | {"tools", "max_iterations", "tool_results_key"},
    "python": {"tool", "state_key", "variables", "requires", "on_error"},
    "passthrough": {"output"},
    "interrupt": _MODEL_KEYS
    | {"message", "prompt", "variables", "state_key", "resume_key", "idempotent"}
    | {"choices", "response"}
    | ASSIGNMENT_NODE_KEYS,
    "subgraph": {"graph", "mode", "input_mapping", "output_mapping", "interrupt_output_mapping"},
    "map": {"over", "as", "node", "collect", "requires"} | ERROR_KEYS,
    "tool_call": {"tool", "args", "state_key", "requires", "on_error"},
}
COMMON_NODE_KEYS = {"type", "description"}
MAP_SUBNODE_TYPES = {"llm", "router", "agent", "python", "passthrough", "tool_call", "interrupt"}
DEFAULT_AGENT_ITERATIONS = 10  # yamlgraph 0.6.5's default (graph-yaml.md says 5)
DEFAULT_TOOL_CALL_KEY = "result"  # yamlgraph 0.6.5's default (tool-call-nodes.md: node name)
ERRORS_KEY = "errors"  # where on_error: skip records what it skipped

# Channels the engine itself uses; graph authors cannot declare or write them.
ROUTE_KEY = "_route"
VISITS_KEY = "_loop_counts"  # yamlgraph's name: templates read {state._loop_counts.node}
PAYLOADS_KEY = "_interrupt_payloads"
RELAY_KEY = "_subgraph_relay"  # a paused child of a subgraph with interrupt_output_mapping
PRIVATE_KEYS = {ROUTE_KEY, VISITS_KEY, PAYLOADS_KEY, RELAY_KEY}

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


class _Collector:
    """Gathers issues with their lines so validation can continue past the first."""

    def __init__(self, file: str, lines: LineMap):
        self.file = file
        self.lines = lines
        self.issues: list[ValidationIssue] = []
        self.check_environment = True  # see load_graph_source

    def add(self, path: YamlPath, message: str) -> None:
        self.issues.append(
            ValidationIssue(self.file, format_path(path), self.lines.line(path), message)
        )

    def unknown_keys(self, mapping: dict, known: set[str], path: YamlPath, what: str) -> None:
        for key in mapping:
            if key not in known:
                self.add((*path, key), f"unknown {what} key '{key}'{did_you_mean(key, known)}")


def read_graph_text(path: str | Path) -> str:
    """The text of a graph file; a file that cannot be read, is too large or is not UTF-8
    raises GraphValidationError naming it."""
    try:
        return read_source(path)
    except YamlSourceError as exc:
        raise GraphValidationError(_issues_of(exc, str(path))) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise GraphValidationError(
            [ValidationIssue(str(path), "", None, f"cannot read graph file: {reason}")]
        ) from None


def _issues_of(exc: YamlSourceError, display: str) -> list[ValidationIssue]:
    return [ValidationIssue(display, format_path(p.path), p.line, p.message) for p in exc.problems]


#: Graph files being loaded in this context, outermost first: finds subgraph cycles.
_LOADING: ContextVar[tuple[Path, ...]] = ContextVar("yamlgraph_loading", default=())
#: Subgraphs of subgraphs of ...: far beyond any real graph, and well within Python's stack.
MAX_SUBGRAPH_DEPTH = 16


def load_graph_source(
    source: str, file: str | Path | None = None, *, check_environment: bool = True
) -> GraphConfig:
    """Parse and validate graph YAML text; `file` anchors relative paths and error messages.

    With `check_environment` (the default) every `${VAR}` of the checkpointer block must
    be set; pass False where another block replaces the file's own (an operator's
    override), so a variable only that block needs does not make the file invalid.
    """
    path = Path(file).resolve() if file is not None else None
    display = str(file) if file is not None else "<string>"
    try:
        data, lines = load_yaml(source)
    except YamlSourceError as exc:
        raise GraphValidationError(_issues_of(exc, display)) from None
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
    collector.check_environment = check_environment
    problem = root_problem(data)
    if problem is not None:
        collector.add((), problem)
        raise GraphValidationError(collector.issues)
    token = _LOADING.set((*_LOADING.get(), path) if path is not None else _LOADING.get())
    try:
        config = _parse(data, source, path, collector)
    finally:
        _LOADING.reset(token)
    if collector.issues:
        raise GraphValidationError(collector.issues)
    return config


def _parse(data: dict, source: str, file: Path | None, issues: _Collector) -> GraphConfig:
    issues.unknown_keys(data, TOP_LEVEL_KEYS, (), "top-level")
    check_top_level(data, issues.add)
    name = data.get("name")
    config = GraphConfig(
        name=name if isinstance(name, str) and name else (file.stem if file else "graph"),
        source=source,
        file=file,
        version=str(data.get("version", "1.0")),
        description=str(data.get("description") or ""),
        raw=data,
    )
    defaults = _mapping(data.get("defaults"))
    issues.unknown_keys(defaults, DEFAULTS_KEYS, ("defaults",), "defaults")
    responses = defaults.get("responses")
    if responses is not None and not (
        isinstance(responses, list)
        or (isinstance(responses, dict) and all(isinstance(v, list) for v in responses.values()))
    ):
        issues.add(("defaults", "responses"), "must be a list, or a mapping of node: list")
    check_assignment_defaults(defaults, issues.add)
    config.defaults = defaults
    config.prompts_dir = data.get("prompts_dir", defaults.get("prompts_dir"))
    config.prompts_relative = data.get("prompts_relative", defaults.get("prompts_relative"))

    checkpointer = data.get("checkpointer")
    if isinstance(checkpointer, str | dict):
        before = len(issues.issues)
        check_checkpointer(checkpointer, issues.add, environment=issues.check_environment)
        if len(issues.issues) > before:
            checkpointer = None
    if isinstance(checkpointer, str):
        checkpointer = {"type": checkpointer}
    config.checkpointer = checkpointer if isinstance(checkpointer, dict) else None

    run_config = _mapping(data.get("config"))
    limit = run_config.get("recursion_limit")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        issues.add(("config", "recursion_limit"), "must be a positive integer")
    config.config = run_config

    _parse_state(_mapping(data.get("state")), config, issues)
    _parse_tools(_mapping(data.get("tools")), config, issues)
    _parse_nodes(data.get("nodes"), config, issues)
    _parse_edges(data.get("edges"), config, issues)
    _parse_loops(data, config, issues)
    _parse_exports(data, config, issues)
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
        kind = spec.get("type") or ("shell" if "command" in spec else "python")
        if kind == "shell":
            _parse_shell_tool(name, spec, path, config, issues)
        elif kind == "python":
            _parse_python_tool(name, spec, path, config, issues)
        else:
            issues.add(
                (*path, "type"),
                f"unsupported tool type '{kind}' (supported: python, shell)"
                + did_you_mean(kind, {"python", "shell"}),
            )


def _parse_shell_tool(
    name: str, spec: dict, path: YamlPath, config: GraphConfig, issues: _Collector
) -> None:
    issues.unknown_keys(spec, SHELL_TOOL_KEYS, path, "shell tool")
    command = spec.get("command")
    if not isinstance(command, str) or not command.strip():
        issues.add(path, "a shell tool needs 'command' (a string with {placeholders})")
        return
    tool = ToolConfig(name=name, kind="shell", command=command)
    tool.description = str(spec.get("description") or "")
    tool.parse = spec.get("parse", "text")
    if tool.parse not in SHELL_PARSE_MODES:
        issues.add((*path, "parse"), f"must be one of {', '.join(sorted(SHELL_PARSE_MODES))}")
    tool.timeout = spec.get("timeout", 30)
    if isinstance(tool.timeout, bool) or not isinstance(tool.timeout, int | float):
        issues.add((*path, "timeout"), "must be a number of seconds")
    elif tool.timeout <= 0:
        issues.add((*path, "timeout"), "must be a positive number of seconds")
    env = spec.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        issues.add((*path, "env"), "must be a mapping of NAME: string")
        env = {}
    tool.env = {str(k): v for k, v in env.items()}
    codes = spec.get("success_codes", [0])
    if not isinstance(codes, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) for c in codes
    ):
        issues.add((*path, "success_codes"), "must be a list of exit codes")
        codes = [0]
    tool.success_codes = codes
    if "working_dir" in spec:
        tool.working_dir = config.resolve_path(str(spec["working_dir"]))
        if not tool.working_dir.is_dir():
            issues.add((*path, "working_dir"), f"directory not found: {tool.working_dir}")
    config.tools[name] = tool


def _parse_python_tool(
    name: str, spec: dict, path: YamlPath, config: GraphConfig, issues: _Collector
) -> None:
    issues.unknown_keys(spec, TOOL_KEYS, path, "tool")
    function = spec.get("function")
    if not function:
        issues.add(path, "missing 'function'")
        return
    module, file = spec.get("module"), spec.get("path")
    if bool(module) == bool(file):
        issues.add(path, "give exactly one of 'module' or 'path'")
        return
    if not isinstance(module or file, str) or not isinstance(function, str):
        issues.add(path, "'module', 'path' and 'function' must be strings")
        return
    tool = ToolConfig(name=name, function=str(function), module=module)
    tool.description = str(spec.get("description") or "")
    if file:
        tool.path = config.resolve_path(file)
        if not tool.path.is_file():
            issues.add((*path, "path"), f"tool file not found: {tool.path}")
            return
    try:
        target = load_tool_function(tool)
    except ImportError as exc:
        issues.add(path, f"cannot import tool: {exc}")
        return
    except AttributeError:
        where = tool.module or tool.path
        issues.add((*path, "function"), f"function '{function}' not found in {where}")
        return
    except Exception as exc:  # the tool's own code failed while importing
        issues.add(path, f"cannot import tool: {type(exc).__name__}: {exc}")
        return
    if not callable(target):
        issues.add((*path, "function"), f"'{function}' is not callable")
        return
    config.tools[name] = tool


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
    _check_common_keys(spec, path, node_type, issues)
    if node_type == "agent":
        _check_agent(spec, path, config, issues)
    elif node_type == "tool_call":
        _check_tool_call(spec, path, config, issues)
    elif node_type == "router":
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
        elif tool in config.tools and config.tools[tool].kind != "python":
            issues.add(
                (*path, "tool"),
                f"tool '{tool}' is a shell tool; a python node needs a"
                " python tool (use an agent or tool_call node for shell tools)",
            )
    elif node_type == "passthrough":
        output = spec.get("output")
        if not isinstance(output, dict) or not output:
            issues.add((*path, "output"), "a passthrough node needs 'output': {key: template}")
        else:
            for key, template in output.items():
                if key != ROUTE_KEY:  # a passthrough may choose a `type: conditional` edge
                    _check_writable_key(key, (*path, "output", key), issues)
                _check_templates(template, (*path, "output", key), issues)
    elif node_type == "interrupt":
        from yamlgraph.answers import schema_problems

        if "message" not in spec and "prompt" not in spec:
            issues.add(path, "an interrupt node needs 'message' (or 'prompt')")
        for subpath, problem in schema_problems(spec):
            issues.add((*path, *subpath), problem)
        _check_templates(spec.get("message"), (*path, "message"), issues)
        check_assignment(spec, path, issues.add, _mapping(config.raw.get("defaults")))
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
        _check_subgraph_mode(node, path, config, issues)
    elif node_type == "map":
        _check_map(name, spec, path, config, issues)
    return node


def _check_common_keys(spec: dict, path: YamlPath, node_type: str, issues: _Collector) -> None:
    """`requires`, `skip_if_exists`, `stream` and the error-handling properties."""
    requires = spec.get("requires")
    if requires is not None and not (
        isinstance(requires, list) and all(isinstance(k, str) for k in requires)
    ):
        issues.add((*path, "requires"), "must be a list of state keys")
    for key in ("skip_if_exists", "stream", "parse_json", "idempotent"):
        if key in spec and not isinstance(spec[key], bool):
            issues.add((*path, key), "must be true or false")
    if "on_error" not in spec and "fallback" not in spec and "max_retries" not in spec:
        return
    allowed = ("skip", "fail") if node_type in {"python", "tool_call"} else ON_ERROR_VALUES
    on_error = spec.get("on_error", "fail")
    if on_error not in allowed:
        issues.add(
            (*path, "on_error"),
            f"unknown on_error '{on_error}' for a {node_type} node; use one of"
            f" {', '.join(allowed)}",
        )
    retries = spec.get("max_retries")
    if retries is not None and (
        not isinstance(retries, int) or isinstance(retries, bool) or retries < 0
    ):
        issues.add((*path, "max_retries"), "must be a whole number >= 0")
    fallback = spec.get("fallback")
    if fallback is not None:
        if not isinstance(fallback, dict):
            issues.add((*path, "fallback"), "must be a mapping with 'provider'")
        else:
            issues.unknown_keys(fallback, _MODEL_KEYS, (*path, "fallback"), "fallback")
            if not fallback.get("provider") and set(fallback) <= _MODEL_KEYS:
                issues.add((*path, "fallback"), "needs 'provider'")
    if on_error == "fallback" and not isinstance(fallback, dict):
        issues.add((*path, "on_error"), "on_error: fallback needs 'fallback: {provider: ...}'")


def _check_agent(spec: dict, path: YamlPath, config: GraphConfig, issues: _Collector) -> None:
    # yamlgraph's agent uses the prompt named `agent` when the node names none.
    _check_prompt({"prompt": "agent", **spec}, path, config, issues, required=True)
    tools = spec.get("tools", [])
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        issues.add((*path, "tools"), "must be a list of names under 'tools:'")
        tools = []
    for index, tool in enumerate(tools):
        if tool not in config.tools and tool not in _mapping(config.raw.get("tools")):
            issues.add(
                (*path, "tools", index),
                f"unknown tool '{tool}'{did_you_mean(tool, set(config.tools))}",
            )
    iterations = spec.get("max_iterations", DEFAULT_AGENT_ITERATIONS)
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
        issues.add((*path, "max_iterations"), "must be a positive integer")
    if "tool_results_key" in spec:
        _check_writable_key(spec["tool_results_key"], (*path, "tool_results_key"), issues)


def _check_tool_call(spec: dict, path: YamlPath, config: GraphConfig, issues: _Collector) -> None:
    for key in ("tool", "args"):
        if key not in spec:
            issues.add(path, f"a tool_call node needs '{key}' (a template on the state)")
    tool, args = spec.get("tool"), spec.get("args")
    if tool is not None and not isinstance(tool, str):
        issues.add((*path, "tool"), "must be a tool name or a template like '{state.task.tool}'")
    elif isinstance(tool, str) and "{" not in tool and tool not in config.tools:
        issues.add((*path, "tool"), f"unknown tool '{tool}'{did_you_mean(tool, set(config.tools))}")
    if args is not None and not isinstance(args, str | dict):
        issues.add((*path, "args"), "must be a template like '{state.task.args}' or a mapping")
    _check_templates(tool, (*path, "tool"), issues)
    _check_templates(args, (*path, "args"), issues)


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
    if find_prompt(config, prompt) is None:
        tried = ", ".join(str(c) for c in prompt_candidates(config, prompt))
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
    if _subgraph_cycle(child, path, issues):
        return
    try:
        text = read_graph_text(child)
        load_graph_source(text, child, check_environment=issues.check_environment)
    except GraphValidationError as exc:
        for issue in exc.issues:
            issues.add((*path, "graph"), f"invalid subgraph: {issue}")
    for key in ("input_mapping", "output_mapping"):
        mapping = spec.get(key)
        if mapping is not None and not isinstance(mapping, dict):
            issues.add((*path, key), "must be a mapping")
    for key in spec.get("output_mapping") or {}:
        _check_writable_key(key, (*path, "output_mapping", key), issues)


SUBGRAPH_MODES = ("invoke", "direct")


def _check_subgraph_mode(
    node: NodeConfig, path: YamlPath, config: GraphConfig, issues: _Collector
) -> None:
    """`mode: invoke|direct` and `interrupt_output_mapping` (yamlgraph 0.6.5's subgraph keys)."""
    spec = node.options
    mode = spec.get("mode", "invoke")
    if mode not in SUBGRAPH_MODES:
        issues.add(
            (*path, "mode"),
            f"unknown subgraph mode '{mode}'; use one of {', '.join(SUBGRAPH_MODES)}",
        )
    if mode == "direct":
        for key in ("input_mapping", "output_mapping", "interrupt_output_mapping"):
            if key in spec:
                issues.add(
                    (*path, key),
                    f"mode: direct shares the parent's state by key name and takes no {key}",
                )
        child = config.resolve_path(str(spec.get("graph")))
        if child.is_file() and (config.file is None or child.resolve() != config.file):
            with contextlib.suppress(GraphValidationError):  # reported by _check_subgraph
                node.child_fields = load_graph_source(
                    read_graph_text(child), child
                ).public_state_fields
    mapping = spec.get("interrupt_output_mapping")
    if mapping is not None and not isinstance(mapping, dict):
        issues.add((*path, "interrupt_output_mapping"), "must be a mapping")
    for key in _mapping(mapping):
        _check_writable_key(key, (*path, "interrupt_output_mapping", key), issues)


def _subgraph_cycle(child: Path, path: YamlPath, issues: _Collector) -> bool:
    """Report (and return True for) a subgraph that includes itself, directly or not,
    or nests deeper than MAX_SUBGRAPH_DEPTH."""
    loading = _LOADING.get()
    target = child.resolve()
    if target in loading:
        cycle = [*loading[loading.index(target) :], target]
        issues.add(
            (*path, "graph"),
            "subgraph cycle: "
            + " -> ".join(p.name for p in cycle)
            + (" (a graph cannot include itself)" if len(cycle) == 2 else ""),
        )
        return True
    if len(loading) >= MAX_SUBGRAPH_DEPTH:
        issues.add((*path, "graph"), f"subgraphs nested more than {MAX_SUBGRAPH_DEPTH} deep")
        return True
    return False


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
            if sub_type == "interrupt" and "prompt" in sub:
                issues.add(
                    (*path, "node", "prompt"),
                    "an interrupt inside a map asks with 'message' (a template on the item);"
                    " 'prompt' is not supported there",
                )
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
            choosers = [s for s in edge.sources if _writes_route(config, s)]
            if not choosers:
                issues.add(
                    (*path, "to"),
                    "a conditional 'to:' list without a way to choose: the source cannot set"
                    " state._route (a router, a python node, a passthrough with '_route'"
                    " output or a direct subgraph can), and the edge has no 'condition'",
                )
                ok = False
        if (edge.condition or edge.conditional) and len(edge.sources) > 1:
            issues.add((*path, "from"), "a conditional edge must start at a single node")
            ok = False
        if ok:
            config.edges.append(edge)


def _writes_route(config: GraphConfig, name: str) -> bool:
    """Whether a node can set state._route, which `type: conditional` edges follow."""
    node = config.nodes.get(name)
    if node is None:
        return False
    if node.type == "passthrough":
        return ROUTE_KEY in _mapping(node.get("output"))
    return node.type in {"router", "python"}


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


def _parse_exports(data: dict, config: GraphConfig, issues: _Collector) -> None:
    from yamlgraph.exports import export_problems

    if data.get("exports") is None:
        return
    problems = export_problems(data["exports"])
    for path, message in problems:
        issues.add(path, message)
    if not problems:
        config.exports = data["exports"]


def written_keys(node: NodeConfig) -> list[str]:
    """State keys a node writes, known before it runs."""
    spec = node.options
    errors = [ERRORS_KEY] if spec.get("on_error") == "skip" else []
    if node.type == "tool_call":
        return [spec.get("state_key", DEFAULT_TOOL_CALL_KEY)]
    if node.type in {"llm", "router"}:
        return [spec.get("state_key", node.name), *errors]
    if node.type == "agent":
        extra = [spec["tool_results_key"]] if spec.get("tool_results_key") else []
        return [spec.get("state_key", node.name), *extra, *errors]
    if node.type == "python":
        return ([spec["state_key"]] if spec.get("state_key") else []) + errors
    if node.type == "passthrough":
        return [k for k in _mapping(spec.get("output")) if k != ROUTE_KEY]
    if node.type == "interrupt":
        return [
            spec.get("state_key", DEFAULT_INTERRUPT_STATE_KEY),
            spec.get("resume_key", DEFAULT_RESUME_KEY),
        ]
    if node.type == "subgraph" and spec.get("mode") == "direct":
        return list(node.child_fields)
    if node.type == "subgraph":
        return list(
            {
                **_mapping(spec.get("output_mapping")),
                **_mapping(spec.get("interrupt_output_mapping")),
            }
        )
    if node.type == "map":
        sub = _mapping(spec.get("node"))
        return [spec.get("collect", node.name), *errors] + (
            [ERRORS_KEY] if sub.get("on_error") == "skip" else []
        )
    return []


def _declare_written_keys(config: GraphConfig, issues: _Collector) -> None:
    for node in config.nodes.values():
        for key in written_keys(node):
            if key == ERRORS_KEY and key not in config.state:
                # on_error: skip appends what it skipped, from any number of nodes
                config.state[key] = StateField(name=key, type="list", reducer="add", declared=False)
            elif key in node.child_fields and key not in config.state:
                config.state[key] = copy.copy(node.child_fields[key])
            elif _is_key_name(key) and key not in config.state:
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
