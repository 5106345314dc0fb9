"""Node builders: each YAML node type becomes a LangGraph node function.

Every builder returns plain functions of (state, config) that return a state update,
so LangGraph's own machinery does the scheduling, checkpointing and interrupts.
"""

from __future__ import annotations

import asyncio
import functools
import json
import operator
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import yaml
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable
from langgraph.types import interrupt

from yamlgraph.config import (
    DEFAULT_INTERRUPT_STATE_KEY,
    DEFAULT_RESUME_KEY,
    DEFAULT_TOOL_CALL_KEY,
    ERROR_KEYS,
    ERRORS_KEY,
    PAYLOADS_KEY,
    PRIVATE_KEYS,
    RELAY_KEY,
    ROUTE_KEY,
    GraphConfig,
    NodeConfig,
)
from yamlgraph.error_policy import ErrorPolicy, NodeSkipped
from yamlgraph.errors import GraphRuntimeError
from yamlgraph.graph_tools import call_tool, load_tool_function
from yamlgraph.llm import create_chat_model, message_text
from yamlgraph.prompts import find_prompt
from yamlgraph.templates import render

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

NodeFunction = Callable[..., dict[str, Any]]


def node_errors(node_name: str) -> Callable[[Callable], Callable]:
    """Name the node in template and expression errors raised while it runs."""
    from yamlgraph.expressions import ExpressionError
    from yamlgraph.templates import TemplateError

    def decorate(function: Callable) -> Callable:
        if asyncio.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await function(*args, **kwargs)
                except (TemplateError, ExpressionError) as exc:
                    raise GraphRuntimeError(node_name, str(exc)) from exc

            return async_wrapper

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except (TemplateError, ExpressionError) as exc:
                raise GraphRuntimeError(node_name, str(exc)) from exc

        return wrapper

    return decorate


def node_policy(node: NodeConfig, output_key: str | None) -> Callable[[Callable], Callable]:
    """`requires`, `skip_if_exists` and `on_error: skip` around a node's run function.

    A missing required key fails the node with a message naming the key; a skipped
    node writes None to its output key and appends what went wrong to `errors`.
    """
    requires: list[str] = node.get("requires") or []
    skip_if_exists = bool(node.get("skip_if_exists", False))

    def before(state: Mapping[str, Any]) -> dict | None:
        missing = [key for key in requires if state.get(key) is None]
        if missing:
            raise GraphRuntimeError(
                node.name, f"requires state {', '.join(repr(k) for k in missing)}, not set yet"
            )
        if skip_if_exists and output_key and state.get(output_key):
            return {}
        return None

    def skipped(exc: NodeSkipped) -> dict:
        update: dict[str, Any] = {ERRORS_KEY: [exc.record()]}
        if output_key:
            update[output_key] = None
        return update

    def decorate(function: Callable) -> Callable:
        if asyncio.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(state: dict, *args: Any, **kwargs: Any) -> Any:
                early = before(state)
                if early is not None:
                    return early
                try:
                    return await function(state, *args, **kwargs)
                except NodeSkipped as exc:
                    return skipped(exc)

            return async_wrapper

        @functools.wraps(function)
        def wrapper(state: dict, *args: Any, **kwargs: Any) -> Any:
            early = before(state)
            if early is not None:
                return early
            try:
                return function(state, *args, **kwargs)
            except NodeSkipped as exc:
                return skipped(exc)

        return wrapper

    return decorate


def load_prompt(config: GraphConfig, prompt: str | dict) -> dict[str, str]:
    if isinstance(prompt, dict):
        return {k: v for k, v in prompt.items() if k in {"system", "user"}}
    found = find_prompt(config, prompt)
    if found is None:
        raise GraphRuntimeError(prompt, f"prompt file '{prompt}' not found")
    data = yaml.safe_load(found.read_text()) or {}
    return {k: str(v) for k, v in data.items() if k in {"system", "user"}}


def chat_model_for(config: GraphConfig, node: NodeConfig, options: Mapping[str, Any]) -> Any:
    """The chat model `options` (a node, or its `fallback:`) asks for, defaults filled in."""
    defaults = config.defaults
    responses = options.get("responses")
    default_responses = defaults.get("responses")
    if responses is None and options is node.options:
        if isinstance(default_responses, dict):
            responses = default_responses.get(node.name)
        elif isinstance(default_responses, list):
            responses = default_responses
    return create_chat_model(
        provider=options.get("provider", defaults.get("provider", "fake")),
        model=options.get("model", defaults.get("model") if options is node.options else None),
        temperature=options.get(
            "temperature", node.get("temperature", defaults.get("temperature"))
        ),
        responses=responses,
        node_name=node.name,
    )


class PromptedModel:
    """A node's prompt plus its chat model: renders messages from state and asks the model.

    Every call goes through the node's error policy (`on_error`, `max_retries`, `fallback`).
    """

    def __init__(self, config: GraphConfig, node: NodeConfig, default_prompt: str | None = None):
        self.config = config
        self.node = node
        self.prompt = load_prompt(config, node.get("prompt", default_prompt))
        self.model = chat_model_for(config, node, node.options)
        fallback = node.get("fallback")
        fallback_model = chat_model_for(config, node, fallback) if fallback else None
        self.policy = ErrorPolicy(node.name, node.options, fallback_model)
        self.parse_json = bool(node.get("parse_json", False))
        self.stream = bool(node.get("stream", False))

    def messages(self, view: Mapping[str, Any]) -> list[BaseMessage]:
        variables = render(self.node.get("variables") or {}, view)
        messages: list[BaseMessage] = []
        if self.prompt.get("system"):
            messages.append(SystemMessage(str(render(self.prompt["system"], view, variables))))
        if self.prompt.get("user"):
            messages.append(HumanMessage(str(render(self.prompt["user"], view, variables))))
        return messages

    def parse(self, message: BaseMessage) -> Any:
        text = message_text(message)
        if not self.parse_json:
            return text
        try:
            return json.loads(_strip_code_fence(text))
        except ValueError as exc:
            raise GraphRuntimeError(
                self.node.name, f"the model did not answer JSON: {exc}"
            ) from exc

    def ask(self, view: Mapping[str, Any], config: RunnableConfig | None = None) -> Any:
        messages = self.messages(view)

        def attempt(model: Any) -> Any:
            if not self.stream:
                return self.parse(model.invoke(messages, config))
            # stream: true asks token by token (LangGraph's stream_mode="messages" sees each)
            return self.parse(functools.reduce(operator.add, model.stream(messages, config)))

        return self.policy.run(attempt, self.model)

    async def aask(self, view: Mapping[str, Any], config: RunnableConfig | None = None) -> Any:
        messages = self.messages(view)

        async def attempt(model: Any) -> Any:
            if self.stream:
                chunks = [chunk async for chunk in model.astream(messages, config)]
                return self.parse(functools.reduce(operator.add, chunks))
            return self.parse(await model.ainvoke(messages, config))

        return await self.policy.arun(attempt, self.model)


def _strip_code_fence(text: str) -> str:
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text


def build_llm(graph: GraphConfig, node: NodeConfig) -> RunnableCallable:
    model = PromptedModel(graph, node)
    key = node.get("state_key", node.name)

    @node_errors(node.name)
    @node_policy(node, key)
    def run(state: dict, config: RunnableConfig) -> dict:
        return {key: model.ask(state, config)}

    @node_errors(node.name)
    @node_policy(node, key)
    async def arun(state: dict, config: RunnableConfig) -> dict:
        return {key: await model.aask(state, config)}

    return RunnableCallable(run, arun, name=node.name)


def choose_route(node: NodeConfig, answer: Any) -> str:
    """Map a router's answer to a target node: exact label, then a label inside the text.

    With `route_field`, the label is that field of a JSON answer (yamlgraph 0.6.5).
    """
    routes: dict[str, str] = node.get("routes") or {}
    field_name = node.get("route_field")
    if isinstance(answer, dict) and field_name:
        answer = answer.get(field_name) or ""
    elif isinstance(answer, dict):
        answer = answer.get("route") or answer.get("intent") or answer.get("label") or ""
    text = str(answer).strip().strip("\"'.").lower()
    by_label = {str(label).lower(): target for label, target in routes.items()}
    if text in by_label:
        return by_label[text]
    for label, target in by_label.items():
        if label and label in text:
            return target
    default = node.get("default_route")
    if default is not None:
        return routes.get(default, default)
    raise GraphRuntimeError(
        node.name,
        f"answer {str(answer)[:80]!r} matches none of the routes {sorted(routes)}"
        " and there is no default_route",
    )


def build_router(graph: GraphConfig, node: NodeConfig) -> RunnableCallable:
    model = PromptedModel(graph, node)
    key = node.get("state_key", node.name)
    field_name = node.get("route_field")

    def update(answer: Any) -> dict:
        # with route_field, yamlgraph 0.6.5 stores the label itself under state_key
        stored = answer.get(field_name) if field_name and isinstance(answer, dict) else answer
        return {key: stored, ROUTE_KEY: choose_route(node, answer)}

    @node_errors(node.name)
    @node_policy(node, key)
    def run(state: dict, config: RunnableConfig) -> dict:
        return update(model.ask(state, config))

    @node_errors(node.name)
    @node_policy(node, key)
    async def arun(state: dict, config: RunnableConfig) -> dict:
        return update(await model.aask(state, config))

    return RunnableCallable(run, arun, name=node.name)


def python_result(graph: GraphConfig, node: NodeConfig, result: Any) -> dict[str, Any]:
    """Turn a tool's return value into a state update, refusing keys the state lacks.

    As in yamlgraph 0.6.5, a dict is a state update (even with `state_key`); any other
    value goes to `state_key`.
    """
    key = node.get("state_key")
    if key and not isinstance(result, Mapping):
        return {key: result}
    if result is None:
        return {}
    if not isinstance(result, Mapping):
        raise GraphRuntimeError(
            node.name,
            f"tool returned {type(result).__name__}; return a dict of state updates"
            " or set 'state_key' on the node",
        )
    unknown = sorted(
        k for k in result if k != ROUTE_KEY and (k not in graph.state or k in PRIVATE_KEYS)
    )
    if unknown:
        names = ", ".join(f"'{k}'" for k in unknown)
        raise GraphRuntimeError(
            node.name,
            f"tool returned undeclared state key(s) {names}; declare them under 'state:'",
        )
    return dict(result)


def python_view(node: NodeConfig, state: Mapping[str, Any]) -> dict:
    """The state a python tool receives: the state plus the node's rendered `variables`."""
    variables = node.get("variables")
    return {**state, **render(variables, state)} if variables else dict(state)


def build_python(graph: GraphConfig, node: NodeConfig) -> NodeFunction:
    function = load_tool_function(graph.tools[node.get("tool")])
    policy = ErrorPolicy(node.name, node.options)

    @node_errors(node.name)
    @node_policy(node, node.get("state_key"))
    def run(state: dict) -> dict:
        def attempt(_model: Any) -> dict:
            return python_result(graph, node, function(python_view(node, state)))

        return policy.run(attempt, None)

    run.__name__ = node.name
    return run


def tool_call_result(graph: GraphConfig, node: NodeConfig, view: Mapping[str, Any]) -> dict:
    """yamlgraph's tool_call envelope: {task_id, tool, success, result, error}.

    The tool name and arguments come from the state; a failure is reported in the
    envelope (on_error: skip, the default) or raised (on_error: fail).
    """
    name = render(node.get("tool"), view)
    arguments = render(node.get("args"), view)
    task = view.get("task")
    envelope: dict[str, Any] = {
        "task_id": task.get("id") if isinstance(task, dict) else None,
        "tool": name,
        "success": False,
        "result": None,
        "error": None,
    }
    tool = graph.tools.get(str(name))
    try:
        if tool is None:
            raise LookupError(f"Unknown tool: {name}")
        if not isinstance(arguments, Mapping):
            raise TypeError(f"'args' gave {type(arguments).__name__}, not a mapping")
        envelope["result"] = call_tool(tool, dict(arguments))
        envelope["success"] = True
    except Exception as exc:
        if node.get("on_error", "skip") == "fail":
            raise GraphRuntimeError(node.name, f"tool '{name}' failed: {exc}") from exc
        envelope["error"] = (
            str(exc) if isinstance(exc, LookupError) else (f"{type(exc).__name__}: {exc}")
        )
    return envelope


def build_tool_call(graph: GraphConfig, node: NodeConfig) -> NodeFunction:
    key = node.get("state_key", DEFAULT_TOOL_CALL_KEY)

    @node_errors(node.name)
    @node_policy(node, None)
    def run(state: dict) -> dict:
        return {key: tool_call_result(graph, node, state)}

    run.__name__ = node.name
    return run


def build_passthrough(graph: GraphConfig, node: NodeConfig) -> NodeFunction:
    output: dict[str, Any] = node.get("output")

    @node_errors(node.name)
    def run(state: dict) -> dict:
        return {key: render(template, state) for key, template in output.items()}

    run.__name__ = node.name
    return run


def interrupt_entry(name: str) -> str:
    """Interrupt nodes are two LangGraph nodes; edges into the node go to this one."""
    return f"{name}__prompt"


def build_interrupt(graph: GraphConfig, node: NodeConfig) -> tuple[Any, NodeFunction]:
    """Returns (prepare, wait): prepare writes the question to state, wait pauses for it.

    Splitting them makes the rendered question visible in the checkpoint while the session
    waits, and a resume never re-renders (or re-asks an LLM for) the question.
    """
    state_key = node.get("state_key", DEFAULT_INTERRUPT_STATE_KEY)
    resume_key = node.get("resume_key", DEFAULT_RESUME_KEY)
    idempotent = bool(node.get("idempotent", True))
    model = PromptedModel(graph, node) if node.get("prompt") is not None else None

    def reuse(state: dict) -> tuple[bool, Any]:
        payloads = state.get(PAYLOADS_KEY) or {}
        if idempotent and node.name in payloads:
            return True, payloads[node.name]
        return False, None

    @node_errors(node.name)
    def prepare(state: dict, config: RunnableConfig) -> dict:
        found, payload = reuse(state)
        if not found:
            payload = model.ask(state, config) if model else render(node.get("message"), state)
        return {state_key: payload, PAYLOADS_KEY: {node.name: payload}}

    @node_errors(node.name)
    async def aprepare(state: dict, config: RunnableConfig) -> dict:
        found, payload = reuse(state)
        if not found:
            if model:
                payload = await model.aask(state, config)
            else:
                payload = render(node.get("message"), state)
        return {state_key: payload, PAYLOADS_KEY: {node.name: payload}}

    def wait(state: dict) -> dict:
        payload = (state.get(PAYLOADS_KEY) or {}).get(node.name, state.get(state_key))
        return {resume_key: interrupt(payload)}

    wait.__name__ = node.name
    return RunnableCallable(prepare, aprepare, name=interrupt_entry(node.name)), wait


def build_subgraph(graph: GraphConfig, node: NodeConfig, compile_child) -> RunnableCallable:
    """Run another graph inside this node, sharing the parent's checkpointer.

    The child is compiled without a checkpointer, so LangGraph stores its checkpoints in
    the parent's saver under this node's namespace; its interrupts pause the parent.
    `mode: invoke` maps keys with input_mapping/output_mapping; `mode: direct` passes
    the child's own state fields by name both ways.
    """
    child_config, child_app = compile_child(graph.resolve_path(node.get("graph")))
    direct = node.get("mode") == "direct"
    input_mapping: dict[str, str] | None = node.get("input_mapping")
    output_mapping: dict[str, str] = node.get("output_mapping") or {}
    child_fields = child_config.public_state_fields

    def child_input(state: dict) -> dict:
        if input_mapping is None:
            return {k: v for k, v in state.items() if k in child_fields}
        return {child_key: state.get(parent_key) for parent_key, child_key in input_mapping.items()}

    def parent_update(result: Mapping[str, Any]) -> dict:
        if direct:
            return {k: v for k, v in result.items() if k in child_fields}
        return {parent: result.get(child) for parent, child in output_mapping.items()}

    @node_errors(node.name)
    def run(state: dict, config: RunnableConfig) -> dict:
        return parent_update(child_app.invoke(child_input(state), config))

    @node_errors(node.name)
    async def arun(state: dict, config: RunnableConfig) -> dict:
        return parent_update(await child_app.ainvoke(child_input(state), config))

    return RunnableCallable(run, arun, name=node.name)


def relay_pause_name(name: str) -> str:
    """The node that asks a relayed subgraph's question in the parent."""
    return f"{name}__pause"


def relay_done_name(name: str) -> str:
    """The node a relayed subgraph's outgoing edges leave from."""
    return f"{name}__done"


def build_subgraph_relay(
    graph: GraphConfig, node: NodeConfig, compile_child
) -> tuple[RunnableCallable, NodeFunction]:
    """A subgraph with `interrupt_output_mapping`: (run, pause), yamlgraph's relay pair.

    `run` runs the child (with its own persistent namespace, so a later run can resume
    it); when the child pauses, `run` writes the interrupt_output_mapping keys to the
    parent and hands the child's questions to `pause`, which asks them as the parent's
    interrupts and sends the answers back to `run`, which resumes the child. When the
    child reaches its end, `run` writes output_mapping as a plain subgraph does.
    """
    from langgraph.errors import GraphInterrupt
    from langgraph.types import Command

    child_config, child_app = compile_child(graph.resolve_path(node.get("graph")), True)
    input_mapping: dict[str, str] | None = node.get("input_mapping")
    output_mapping: dict[str, str] = node.get("output_mapping") or {}
    paused_mapping: dict[str, str] = node.get("interrupt_output_mapping") or {}
    child_fields = child_config.public_state_fields

    def child_input(state: dict) -> Any:
        relay = (state.get(RELAY_KEY) or {}).get(node.name) or {}
        if "answers" in relay:
            return Command(resume=relay["answers"])
        if input_mapping is None:
            return {k: v for k, v in state.items() if k in child_fields}
        return {child_key: state.get(parent_key) for parent_key, child_key in input_mapping.items()}

    def finish(values: Mapping[str, Any], paused: GraphInterrupt | None) -> dict:
        if paused is None:
            update = {parent: values.get(child) for parent, child in output_mapping.items()}
            return {**update, RELAY_KEY: {node.name: None}}
        asked = [{"id": item.id, "value": item.value} for item in paused.args[0]]
        update = {parent: values.get(child) for parent, child in paused_mapping.items()}
        return {**update, RELAY_KEY: {node.name: {"asked": asked}}}

    @node_errors(node.name)
    def run(state: dict, config: RunnableConfig) -> dict:
        values: Mapping[str, Any] = {}
        try:
            for chunk in child_app.stream(child_input(state), config, stream_mode="values"):
                values = chunk
        except GraphInterrupt as paused:
            return finish(values, paused)
        return finish(values, None)

    @node_errors(node.name)
    async def arun(state: dict, config: RunnableConfig) -> dict:
        values: Mapping[str, Any] = {}
        try:
            async for chunk in child_app.astream(child_input(state), config, stream_mode="values"):
                values = chunk
        except GraphInterrupt as paused:
            return finish(values, paused)
        return finish(values, None)

    def pause(state: dict) -> dict:
        asked = ((state.get(RELAY_KEY) or {}).get(node.name) or {}).get("asked") or []
        answers = {item["id"]: interrupt(item["value"]) for item in asked}
        return {RELAY_KEY: {node.name: {"answers": answers}}}

    pause.__name__ = relay_pause_name(node.name)
    return RunnableCallable(run, arun, name=node.name), pause


def relay_paused(name: str) -> Callable[[dict], str]:
    """Routes a relayed subgraph to its pause node while the child waits for answers."""

    def route(state: dict) -> str:
        relay = (state.get(RELAY_KEY) or {}).get(name) or {}
        return relay_pause_name(name) if "asked" in relay else relay_done_name(name)

    return route


class ItemSkipped(NodeSkipped):
    """A map item whose agent already recorded why it skipped."""

    def __init__(self, record: dict[str, str]):
        Exception.__init__(self, record.get("message", ""))
        self.saved = record

    def record(self) -> dict[str, str]:
        return self.saved


class MapItem:
    """How a map node runs its sub-node on one item (the item is in the view under `as`)."""

    def __init__(self, graph: GraphConfig, node: NodeConfig):
        spec = dict(node.get("node"))
        for key in ERROR_KEYS:  # the map's on_error applies to every item
            if key in node.options and key not in spec:
                spec[key] = node.options[key]
        self.sub = NodeConfig(name=node.name, type=spec.get("type", "llm"), options=spec)
        self.graph = graph
        self.model = PromptedModel(graph, self.sub) if self.sub.type in {"llm", "router"} else None
        self.agent = None
        if self.sub.type == "agent":
            from yamlgraph.agent import build_agent

            self.agent = functools.partial(build_agent, graph, self.sub)
        self.function = (
            load_tool_function(graph.tools[self.sub.get("tool")])
            if self.sub.type == "python"
            else None
        )

    def run(self, view: dict) -> Any:
        sub = self.sub
        if self.model is not None:
            return self.model.ask(view)
        if self.function is not None:
            policy = ErrorPolicy(sub.name, sub.options)
            return policy.run(lambda _: self.function(python_view(sub, view)), None)
        if sub.type == "tool_call":
            return tool_call_result(self.graph, sub, view)
        if sub.type == "interrupt":
            return interrupt(render(sub.get("message"), view))
        if self.agent is not None:  # a fresh agent per item: its own turns and tool calls
            return self.agent_value(self.agent().invoke(view))
        return {key: render(t, view) for key, t in sub.get("output").items()}

    def agent_value(self, update: dict) -> Any:
        """An agent item's answer; a skipped agent skips the item."""
        if update.get(ERRORS_KEY):
            raise ItemSkipped(update[ERRORS_KEY][0])
        return update.get(self.sub.get("state_key", self.sub.name))

    async def arun(self, view: dict) -> Any:
        if self.model is not None:
            return await self.model.aask(view)
        if self.agent is not None:
            return self.agent_value(await self.agent().ainvoke(view))
        return self.run(view)


def build_map(graph: GraphConfig, node: NodeConfig) -> RunnableCallable:
    """Run the sub-node once per item, concurrently, and collect the results in order.

    Each item runs as a LangGraph task, so finished items are checkpointed: an item that
    pauses (an interrupt sub-node, or an agent whose tool asks a person) resumes alone,
    and the others are not run again. With on_error: skip a failed item is left out of
    the collection and recorded in `errors`.
    """
    from langgraph.func import task

    item_name: str = node.get("as")
    collect = node.get("collect", node.name)
    over = node.get("over")
    runner = MapItem(graph, node)

    def items(state: dict) -> list[Any]:
        value = render(over, state)
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            raise GraphRuntimeError(node.name, f"'over' gave {type(value).__name__}, not a list")
        return list(value)

    def item_view(state: dict, item: Any) -> dict:
        view = dict(state)
        view[item_name] = item
        return view

    def one(view: dict) -> dict:
        try:
            return {"value": runner.run(view)}
        except NodeSkipped as exc:
            return {"skipped": exc.record()}

    async def aone(view: dict) -> dict:
        try:
            return {"value": await runner.arun(view)}
        except NodeSkipped as exc:
            return {"skipped": exc.record()}

    item_task = task(name=f"{node.name}:item")(one)
    aitem_task = task(name=f"{node.name}:item")(aone)

    def collected(outcomes: list[dict]) -> dict:
        update: dict[str, Any] = {collect: [o["value"] for o in outcomes if "value" in o]}
        skipped = [o["skipped"] for o in outcomes if "skipped" in o]
        if skipped:
            update[ERRORS_KEY] = skipped
        return update

    @node_errors(node.name)
    @node_policy(node, None)
    def run(state: dict, config: RunnableConfig) -> dict:
        futures = [item_task(item_view(state, item)) for item in items(state)]
        return collected([future.result() for future in futures])

    @node_errors(node.name)
    @node_policy(node, None)
    async def arun(state: dict, config: RunnableConfig) -> dict:
        views = [item_view(state, item) for item in items(state)]
        return collected(list(await asyncio.gather(*(aitem_task(v) for v in views))))

    return RunnableCallable(run, arun, name=node.name)


def compiled_child_factory(cache: dict) -> Callable[[Any], tuple[GraphConfig, CompiledStateGraph]]:
    """Compile each subgraph file once per parent compile (a graph may use it twice)."""
    from yamlgraph.graph_loader import compile_graph, load_graph_config

    def compile_child(path, own_namespace: bool = False):
        key = (str(path), own_namespace)
        if key not in cache:
            child_config = load_graph_config(path)
            # own_namespace: checkpoints under the node's name, so a later run resumes it
            checkpointer = True if own_namespace else None
            cache[key] = (
                child_config,
                compile_graph(child_config).compile(checkpointer=checkpointer),
            )
        return cache[key]

    return compile_child
