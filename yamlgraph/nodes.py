"""What the node types share: a prompt and its chat model, and the wrappers that apply
`requires`, `skip_if_exists`, `on_error: skip` and name the node in errors.

Each node type's own builder is in its module under `yamlgraph.node_types`; they
return plain functions of (state, config) that return a state update, so LangGraph's
own machinery does the scheduling, checkpointing and interrupts.
"""

from __future__ import annotations

import asyncio
import functools
import json
import operator
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig

from yamlgraph.config import ERRORS_KEY, GraphConfig, NodeConfig
from yamlgraph.error_policy import ErrorPolicy, NodeSkipped
from yamlgraph.errors import GraphRuntimeError
from yamlgraph.llm import create_chat_model, message_text
from yamlgraph.prompts import find_prompt
from yamlgraph.templates import render

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
    A node whose `state_key` is a messages field (a chat node) sends the conversation
    after its rendered prompt and gets the model's reply as a message (streamed unless
    `stream: false`), which the state appends.
    """

    def __init__(self, config: GraphConfig, node: NodeConfig, default_prompt: str | None = None):
        from yamlgraph.config import is_messages_field

        self.config = config
        self.node = node
        key = node.get("state_key", node.name)
        self.conversation = key if is_messages_field(config, key) else None
        prompt = node.get("prompt", default_prompt)
        self.prompt = load_prompt(config, prompt) if prompt is not None else {}
        self.model = chat_model_for(config, node, node.options)
        fallback = node.get("fallback")
        fallback_model = chat_model_for(config, node, fallback) if fallback else None
        self.policy = ErrorPolicy(node.name, node.options, fallback_model)
        self.parse_json = bool(node.get("parse_json", False))
        self.stream = bool(node.get("stream", self.conversation is not None))

    def messages(self, view: Mapping[str, Any]) -> list[BaseMessage]:
        variables = render(self.node.get("variables") or {}, view)
        messages: list[BaseMessage] = []
        if self.prompt.get("system"):
            messages.append(SystemMessage(str(render(self.prompt["system"], view, variables))))
        if self.prompt.get("user"):
            messages.append(HumanMessage(str(render(self.prompt["user"], view, variables))))
        if self.conversation is not None:
            from yamlgraph.messages import as_messages

            messages.extend(as_messages(view.get(self.conversation)))
        return messages

    def parse(self, message: BaseMessage) -> Any:
        if self.conversation is not None:  # a chat node keeps the reply as a message
            from yamlgraph.messages import reply_message

            return [reply_message(message)]
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
