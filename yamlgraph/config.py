"""Graph files as validated, typed configuration.

Parsing and validation happen together so that every problem in a file is reported at
once, each with its file, YAML path and line, before anything runs.
"""

from __future__ import annotations

import copy
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml

from yamlgraph.document import check_checkpointer, check_top_level, root_problem
from yamlgraph.errors import GraphValidationError, ValidationIssue, did_you_mean
from yamlgraph.graph_model import (  # noqa: F401 - the config's types, as before
    END,
    PAYLOADS_KEY,
    PRIVATE_KEYS,
    RELAY_KEY,
    ROUTE_KEY,
    START,
    VISITS_KEY,
    EdgeConfig,
    GraphConfig,
    NodeConfig,
    StateField,
)
from yamlgraph.graph_tools import SHELL_PARSE_MODES, ToolConfig, load_tool_function
from yamlgraph.node_types.base import (
    MODEL_KEYS,
    Collector,
    NodeCheck,
    NodeType,
    check_templates,
    check_writable_key,
    is_key_name,
    mapping,
)
from yamlgraph.yaml_source import (
    YamlPath,
    YamlSourceError,
    format_path,
    load_yaml,
    read_source,
)

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
DEFAULTS_KEYS = {"provider", "model", "temperature", "prompts_dir", "prompts_relative", "responses"}
#: `messages` is ours: a conversation with LangGraph's add_messages (yamlgraph.messages)
STATE_TYPES = {"str", "int", "float", "bool", "list", "dict", "any", "messages"}
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

#: The node types, their keys and checks: one module each, see yamlgraph.node_types.
ERRORS_KEY = "errors"  # where on_error: skip records what it skipped


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


def loading_files() -> tuple[Path, ...]:
    """The graph files being loaded in this context, outermost first (subgraph cycles)."""
    return _LOADING.get()


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
    collector = Collector(display, lines)
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


def _parse(data: dict, source: str, file: Path | None, issues: Collector) -> GraphConfig:
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
    from yamlgraph.node_types import defaults_extensions

    defaults = mapping(data.get("defaults"))
    extensions = defaults_extensions()
    known_defaults = set(DEFAULTS_KEYS).union(*(e.defaults_keys for e in extensions))
    issues.unknown_keys(defaults, known_defaults, ("defaults",), "defaults")
    for extension in extensions:
        if extension.check_defaults is not None:
            extension.check_defaults(defaults, issues)
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
    if isinstance(checkpointer, str | dict):
        before = len(issues.issues)
        check_checkpointer(checkpointer, issues.add, environment=issues.check_environment)
        if len(issues.issues) > before:
            checkpointer = None
    if isinstance(checkpointer, str):
        checkpointer = {"type": checkpointer}
    config.checkpointer = checkpointer if isinstance(checkpointer, dict) else None

    run_config = mapping(data.get("config"))
    limit = run_config.get("recursion_limit")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        issues.add(("config", "recursion_limit"), "must be a positive integer")
    config.config = run_config

    _parse_state(mapping(data.get("state")), config, issues)
    _parse_tools(mapping(data.get("tools")), config, issues)
    _parse_nodes(data.get("nodes"), config, issues)
    _parse_edges(data.get("edges"), config, issues)
    _parse_loops(data, config, issues)
    _parse_exports(data, config, issues)
    _declare_written_keys(config, issues)
    _check_graph_shape(config, issues)
    return config


def _parse_state(state: Any, config: GraphConfig, issues: Collector) -> None:
    if not isinstance(state, dict):
        issues.add(("state",), "must be a mapping of field: type")
        return
    for name, spec in state.items():
        path = ("state", name)
        if not is_key_name(name):
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
        if field_.type == "messages":
            _check_messages_field(field_, path, issues)
        elif field_.reducer == "add" and field_.type not in {"list", "int", "float", "any", "str"}:
            issues.add(path, f"reducer 'add' cannot combine values of type '{field_.type}'")
        config.state[name] = field_


def _check_messages_field(field_: StateField, path: YamlPath, issues: Collector) -> None:
    """A conversation merges by LangGraph's add_messages: no reducer; a default must be
    messages."""
    from yamlgraph.messages import messages_problem

    if field_.reducer is not None:
        issues.add(
            (*path, "reducer"),
            "a messages field merges by LangGraph's add_messages (new messages are appended,"
            " a message with a known id replaces it); it takes no reducer",
        )
    if field_.has_default:
        problem = messages_problem(field_.default)
        if problem:
            issues.add((*path, "default"), problem)


def is_messages_field(config: GraphConfig, key: Any) -> bool:
    """Whether `key` names a state field declared `{type: messages}` (a conversation)."""
    field_ = config.state.get(key) if isinstance(key, str) else None
    return field_ is not None and field_.type == "messages"


def _parse_tools(tools: Any, config: GraphConfig, issues: Collector) -> None:
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
        elif kind == "websearch":
            _parse_websearch_tool(name, spec, path, config, issues)
        else:
            issues.add(
                (*path, "type"),
                f"unsupported tool type '{kind}' (supported: python, shell, websearch)"
                + did_you_mean(kind, {"python", "shell", "websearch"}),
            )


def _parse_websearch_tool(
    name: str, spec: dict, path: YamlPath, config: GraphConfig, issues: Collector
) -> None:
    """A websearch tool loads without a search function; a run names the missing setting."""
    from yamlgraph import websearch

    issues.unknown_keys(spec, websearch.TOOL_KEYS, path, "websearch tool")
    problems = websearch.check_tool(spec)
    for key, message in problems:
        issues.add((*path, key) if key else path, message)
    if problems:
        return
    tool = ToolConfig(name=name, kind="websearch")
    tool.description = str(spec.get("description") or "Search the web")
    tool.provider = str(spec.get("provider", websearch.PROVIDERS_DEFAULT))
    tool.max_results = int(spec.get("max_results", websearch.MAX_RESULTS_DEFAULT))
    config.tools[name] = tool


def _parse_shell_tool(
    name: str, spec: dict, path: YamlPath, config: GraphConfig, issues: Collector
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
    name: str, spec: dict, path: YamlPath, config: GraphConfig, issues: Collector
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


def _parse_nodes(nodes: Any, config: GraphConfig, issues: Collector) -> None:
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
        node = parse_node(name, spec, path, config, issues)
        if node:
            config.nodes[name] = node


def parse_node(
    name: str,
    spec: dict,
    path: YamlPath,
    config: GraphConfig,
    issues: Collector,
    in_map: bool = False,
) -> NodeConfig | None:
    """Check one node with its type's rules (see yamlgraph.node_types); None if its
    type is unknown. `in_map`: the node is a map's `node:`."""
    from yamlgraph.node_types import get_node_type, node_type_names

    node_type = spec.get("type", "llm")
    kind = get_node_type(node_type) if isinstance(node_type, str) else None
    if kind is None:
        known = node_type_names()
        issues.add(
            (*path, "type"),
            f"unknown node type '{node_type}'{did_you_mean(node_type, known)};"
            f" known: {', '.join(sorted(known))}",
        )
        return None
    issues.unknown_keys(spec, kind.all_keys(), path, f"{node_type} node")
    node = NodeConfig(name=name, type=node_type, options=dict(spec))
    for key in ("state_key", "resume_key", "collect"):
        if key in spec:
            check_writable_key(spec[key], (*path, key), issues)
    if "responses" in spec and not isinstance(spec["responses"], list):
        issues.add((*path, "responses"), "must be a list of scripted answers")
    check_templates(spec.get("variables"), (*path, "variables"), issues)
    _check_common_keys(spec, path, node_type, kind.on_error_values, issues)
    ctx = NodeCheck(name, spec, path, config, issues, node, in_map=in_map)
    kind.check(ctx)
    kind.check_extensions(ctx)
    return node


def _check_common_keys(
    spec: dict,
    path: YamlPath,
    node_type: str,
    allowed: tuple[str, ...],
    issues: Collector,
) -> None:
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
            issues.unknown_keys(fallback, set(MODEL_KEYS), (*path, "fallback"), "fallback")
            if not fallback.get("provider") and set(fallback) <= MODEL_KEYS:
                issues.add((*path, "fallback"), "needs 'provider'")
    if on_error == "fallback" and not isinstance(fallback, dict):
        issues.add((*path, "on_error"), "on_error: fallback needs 'fallback: {provider: ...}'")


def _parse_edges(edges: Any, config: GraphConfig, issues: Collector) -> None:
    from yamlgraph.expressions import ExpressionError, compile_expression

    if not isinstance(edges, list) or not edges:
        issues.add(("edges",), "a graph needs an 'edges' list (start with {from: START, to: ...})")
        return
    known = set(config.nodes) | {START, END}
    all_nodes = set(mapping(config.raw.get("nodes"))) | {START, END}
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
    return node is not None and kind_of(node).writes_route(node)


def kind_of(node: NodeConfig) -> NodeType:
    """The registered type of a validated node."""
    from yamlgraph.node_types import get_node_type

    kind = get_node_type(node.type)
    if kind is None:  # unregistered since the graph was validated
        raise LookupError(f"node type '{node.type}' is not registered")
    return kind


def yaml_node_name(config: GraphConfig, raw: str) -> str:
    """The YAML node a LangGraph node belongs to (an interrupt's `ask__prompt` is
    `ask`); any other name as it is."""
    if raw in config.nodes:
        return raw
    for name, node in config.nodes.items():
        if raw in kind_of(node).inner_names(node):
            return name
    return raw


def _parse_loops(data: dict, config: GraphConfig, issues: Collector) -> None:
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


def _parse_exports(data: dict, config: GraphConfig, issues: Collector) -> None:
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
    return kind_of(node).written_keys(node)


def _declare_written_keys(config: GraphConfig, issues: Collector) -> None:
    for node in config.nodes.values():
        for key in written_keys(node):
            if key == ERRORS_KEY and key not in config.state:
                # on_error: skip appends what it skipped, from any number of nodes
                config.state[key] = StateField(name=key, type="list", reducer="add", declared=False)
            elif key in node.child_fields and key not in config.state:
                config.state[key] = copy.copy(node.child_fields[key])
            elif is_key_name(key) and key not in config.state:
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


def _check_graph_shape(config: GraphConfig, issues: Collector) -> None:
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
    routes = {name: kind_of(node).routes(node) for name, node in config.nodes.items()}
    for name, chosen in routes.items():
        successors.setdefault(name, set()).update(t for t in chosen.values() if isinstance(t, str))
    for name, target in config.loop_exits.items():
        successors.setdefault(name, set()).add(target)
    for name, chosen in routes.items():
        if chosen:
            for label, target in chosen.items():
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
