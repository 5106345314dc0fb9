"""Node builders: each YAML node type becomes a LangGraph node function.

Every builder returns plain functions of (state, config) that return a state update,
so LangGraph's own machinery does the scheduling, checkpointing and interrupts.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
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
    ERRORS_KEY,
    PAYLOADS_KEY,
    PRIVATE_KEYS,
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
    pass

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


def current_store() -> Any:
    """The LangGraph store of the running graph, or None when it was compiled without."""
    from langgraph.config import get_store

    try:
        return get_store()
    except RuntimeError:
        return None


def python_view(node: NodeConfig, state: Mapping[str, Any]) -> dict:
    """The state a python tool receives: the state plus the node's rendered `variables`."""
    variables = node.get("variables")
    return {**state, **render(variables, state)} if variables else dict(state)


def takes_store(function: Any) -> bool:
    """Does a python tool take a `store` parameter (LangGraph's long-term store)?"""
    try:
        return "store" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def build_python(graph: GraphConfig, node: NodeConfig) -> NodeFunction:
    function = load_tool_function(graph.tools[node.get("tool")])
    policy = ErrorPolicy(node.name, node.options)
    with_store = takes_store(function)

    @node_errors(node.name)
    @node_policy(node, node.get("state_key"))
    def run(state: dict) -> dict:
        # A tool that asks for `store` gets the store the graph was compiled with (None
        # without one).
        extra = {"store": current_store()} if with_store else {}

        def attempt(_model: Any) -> dict:
            return python_result(graph, node, function(python_view(node, state), **extra))

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
