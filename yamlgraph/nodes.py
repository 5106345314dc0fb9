"""Node builders: each YAML node type becomes a LangGraph node function.

Every builder returns plain functions of (state, config) that return a state update,
so LangGraph's own machinery does the scheduling, checkpointing and interrupts.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import yaml
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph._internal._runnable import RunnableCallable
from langgraph.types import interrupt

from yamlgraph.config import (
    DEFAULT_INTERRUPT_STATE_KEY,
    DEFAULT_RESUME_KEY,
    PAYLOADS_KEY,
    PRIVATE_KEYS,
    ROUTE_KEY,
    GraphConfig,
    NodeConfig,
    load_tool_function,
    prompt_candidates,
)
from yamlgraph.errors import GraphRuntimeError
from yamlgraph.llm import create_chat_model, message_text
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


def load_prompt(config: GraphConfig, prompt: str | dict) -> dict[str, str]:
    if isinstance(prompt, dict):
        return {k: v for k, v in prompt.items() if k in {"system", "user"}}
    for candidate in prompt_candidates(config, prompt):
        if candidate.is_file():
            data = yaml.safe_load(candidate.read_text()) or {}
            return {k: str(v) for k, v in data.items() if k in {"system", "user"}}
    raise GraphRuntimeError(prompt, f"prompt file '{prompt}' not found")


class PromptedModel:
    """A node's prompt plus its chat model: renders messages from state and asks the model."""

    def __init__(self, config: GraphConfig, node: NodeConfig):
        self.config = config
        self.node = node
        self.prompt = load_prompt(config, node.get("prompt"))
        defaults = config.defaults
        responses = node.get("responses")
        default_responses = defaults.get("responses")
        if responses is None and isinstance(default_responses, dict):
            responses = default_responses.get(node.name)
        elif responses is None and isinstance(default_responses, list):
            responses = default_responses
        self.model = create_chat_model(
            provider=node.get("provider", defaults.get("provider", "fake")),
            model=node.get("model", defaults.get("model")),
            temperature=node.get("temperature", defaults.get("temperature")),
            responses=responses,
            node_name=node.name,
        )
        self.parse_json = bool(node.get("parse_json", False))

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
        return self.parse(self.model.invoke(self.messages(view), config))

    async def aask(self, view: Mapping[str, Any], config: RunnableConfig | None = None) -> Any:
        return self.parse(await self.model.ainvoke(self.messages(view), config))


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
    def run(state: dict, config: RunnableConfig) -> dict:
        return {key: model.ask(state, config)}

    @node_errors(node.name)
    async def arun(state: dict, config: RunnableConfig) -> dict:
        return {key: await model.aask(state, config)}

    return RunnableCallable(run, arun, name=node.name)


def choose_route(node: NodeConfig, answer: Any) -> str:
    """Map a router's answer to a target node: exact label, then a label inside the text."""
    routes: dict[str, str] = node.get("routes") or {}
    if isinstance(answer, dict):
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

    @node_errors(node.name)
    def run(state: dict, config: RunnableConfig) -> dict:
        answer = model.ask(state, config)
        return {key: answer, ROUTE_KEY: choose_route(node, answer)}

    @node_errors(node.name)
    async def arun(state: dict, config: RunnableConfig) -> dict:
        answer = await model.aask(state, config)
        return {key: answer, ROUTE_KEY: choose_route(node, answer)}

    return RunnableCallable(run, arun, name=node.name)


def python_result(graph: GraphConfig, node: NodeConfig, result: Any) -> dict[str, Any]:
    """Turn a tool's return value into a state update, refusing keys the state lacks."""
    key = node.get("state_key")
    if key:
        return {key: result}
    if result is None:
        return {}
    if not isinstance(result, Mapping):
        raise GraphRuntimeError(
            node.name,
            f"tool returned {type(result).__name__}; return a dict of state updates"
            " or set 'state_key' on the node",
        )
    unknown = sorted(k for k in result if k not in graph.state or k in PRIVATE_KEYS)
    if unknown:
        names = ", ".join(f"'{k}'" for k in unknown)
        raise GraphRuntimeError(
            node.name,
            f"tool returned undeclared state key(s) {names}; declare them under 'state:'",
        )
    return dict(result)


def build_python(graph: GraphConfig, node: NodeConfig) -> NodeFunction:
    function = load_tool_function(graph.tools[node.get("tool")])

    @node_errors(node.name)
    def run(state: dict) -> dict:
        return python_result(graph, node, function(dict(state)))

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
    """
    child_config, child_app = compile_child(graph.resolve_path(node.get("graph")))
    input_mapping: dict[str, str] | None = node.get("input_mapping")
    output_mapping: dict[str, str] = node.get("output_mapping") or {}

    def child_input(state: dict) -> dict:
        if input_mapping is None:
            return {k: v for k, v in state.items() if k in child_config.public_state_fields}
        return {child_key: state.get(parent_key) for parent_key, child_key in input_mapping.items()}

    def parent_update(result: Mapping[str, Any]) -> dict:
        return {parent: result.get(child) for parent, child in output_mapping.items()}

    @node_errors(node.name)
    def run(state: dict, config: RunnableConfig) -> dict:
        return parent_update(child_app.invoke(child_input(state), config))

    @node_errors(node.name)
    async def arun(state: dict, config: RunnableConfig) -> dict:
        return parent_update(await child_app.ainvoke(child_input(state), config))

    return RunnableCallable(run, arun, name=node.name)


def build_map(graph: GraphConfig, node: NodeConfig) -> RunnableCallable:
    """Run the sub-node once per item, concurrently, and collect the results in order."""
    sub = NodeConfig(name=node.name, type=node.get("node").get("type", "llm"), options={})
    sub.options = dict(node.get("node"))
    item_name: str = node.get("as")
    collect = node.get("collect", node.name)
    over = node.get("over")
    model = PromptedModel(graph, sub) if sub.type == "llm" else None
    function = load_tool_function(graph.tools[sub.get("tool")]) if sub.type == "python" else None

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

    def run_one(state: dict, item: Any, config: RunnableConfig) -> Any:
        view = item_view(state, item)
        if model:
            return model.ask(view, config)
        if function:
            return function(view)
        return {key: render(t, view) for key, t in sub.get("output").items()}

    @node_errors(node.name)
    def run(state: dict, config: RunnableConfig) -> dict:
        values = items(state)
        if not values:
            return {collect: []}
        with ThreadPoolExecutor(max_workers=min(8, len(values))) as pool:
            results = list(pool.map(lambda item: run_one(state, item, config), values))
        return {collect: results}

    @node_errors(node.name)
    async def arun(state: dict, config: RunnableConfig) -> dict:
        values = items(state)
        if model:
            views = [item_view(state, item) for item in values]
            results = await asyncio.gather(*(model.aask(v, config) for v in views))
            return {collect: list(results)}
        return {collect: [run_one(state, item, config) for item in values]}

    return RunnableCallable(run, arun, name=node.name)


def compiled_child_factory(cache: dict) -> Callable[[Any], tuple[GraphConfig, CompiledStateGraph]]:
    """Compile each subgraph file once per parent compile (a graph may use it twice)."""
    from yamlgraph.graph_loader import compile_graph, load_graph_config

    def compile_child(path):
        key = str(path)
        if key not in cache:
            child_config = load_graph_config(path)
            cache[key] = (child_config, compile_graph(child_config).compile())
        return cache[key]

    return compile_child
