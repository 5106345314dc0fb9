"""Chat models for ``llm`` and ``router`` nodes.

Every example graph and test must run offline, so the ``fake`` provider is
built in: :class:`FakeChatModel` returns scripted ``responses`` or echoes the
last human message.  Real providers come from their LangChain integration
packages, imported only when used, so none of them is a hard dependency; a
missing one is an error that says what to ``pip install``.

All models are created through a process-wide *model factory*
(:func:`set_model_factory`), so a project or a test can swap every model of
every graph at once (``YAMLGRAPH["LLM_FACTORY"]`` in Django settings).
"""

from __future__ import annotations

import importlib
import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

__all__ = [
    "FakeChatModel",
    "FakeModelError",
    "ModelFactory",
    "ProviderNotInstalled",
    "UnknownProvider",
    "create_chat_model",
    "default_model_factory",
    "get_model_factory",
    "message_text",
    "set_model_factory",
]

ModelFactory = Callable[..., BaseChatModel]

# provider -> (module, class, pip package)
_PROVIDERS: dict[str, tuple[str, str, str]] = {
    "openai": ("langchain_openai", "ChatOpenAI", "langchain-openai"),
    "anthropic": ("langchain_anthropic", "ChatAnthropic", "langchain-anthropic"),
    "mistral": ("langchain_mistralai", "ChatMistralAI", "langchain-mistralai"),
    "google": ("langchain_google_genai", "ChatGoogleGenerativeAI", "langchain-google-genai"),
    "gemini": ("langchain_google_genai", "ChatGoogleGenerativeAI", "langchain-google-genai"),
    "ollama": ("langchain_ollama", "ChatOllama", "langchain-ollama"),
}
KNOWN_PROVIDERS: tuple[str, ...] = ("fake", *sorted(_PROVIDERS))


class ProviderNotInstalled(ImportError):
    """The provider's LangChain integration package is not installed."""

    def __init__(self, provider: str, package: str) -> None:
        super().__init__(
            f"provider {provider!r} needs the {package!r} package: pip install {package}"
        )
        self.provider = provider
        self.package = package


class UnknownProvider(ValueError):
    """A provider name that no integration is known for."""

    def __init__(self, provider: str) -> None:
        super().__init__(
            f"unknown LLM provider {provider!r}; known providers: {', '.join(KNOWN_PROVIDERS)}"
        )
        self.provider = provider


def message_text(message: Any) -> str:
    """The text of a chat message (or of its ``content``), as one string.

    Providers return either a string or a list of content blocks (text,
    tool calls, reasoning...); nodes only want the text, so text blocks are
    joined and the rest is skipped.
    """
    if message is None:
        return ""
    content = message if isinstance(message, str | list) else getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces: list[str] = []
        for block in content:
            if isinstance(block, str):
                pieces.append(block)
            elif isinstance(block, dict) and block.get("type", "text") == "text":
                text = block.get("text")
                if isinstance(text, str):
                    pieces.append(text)
        return "".join(pieces)
    return str(content)


class FakeModelError(RuntimeError):
    """A failure the ``fake`` provider was scripted to raise (``{raise: message}``)."""


class FakeChatModel(BaseChatModel):
    """A deterministic, offline chat model for examples and tests.

    With ``responses``, call *n* returns ``responses[n]`` and every later
    call repeats the last one (a conversation that already holds *k* answers
    gets at least entry *k*).  An entry is the answer's text; a dict is
    returned as its JSON text (for nodes that parse JSON), except two
    scripted shapes: ``{tool_calls: [{name, args}], content: ...}`` answers
    with tool calls (for ``agent`` nodes) and ``{raise: message}`` fails the
    call with :class:`FakeModelError` (for ``on_error`` tests).  Without
    responses it echoes the last human message, so a test can predict the
    answer.  The call counter is thread-safe, so parallel branches of one
    graph consume the script in some order without skipping or repeating an
    entry.
    """

    responses: list[str | dict[str, Any]] | None = None

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: int = PrivateAttr(default=0)

    def __init__(
        self, responses: Sequence[str | dict[str, Any]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(responses=list(responses) if responses is not None else None, **kwargs)

    @property
    def _llm_type(self) -> str:
        return "fake"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> FakeChatModel:
        """Tool calls come from the script, so binding tools changes nothing."""
        return self

    def _next_message(self, messages: list[BaseMessage]) -> AIMessage:
        # An agent's conversation already holds its earlier answers: counting them keeps
        # the script in step when a new process resumes the conversation.
        answered = sum(isinstance(m, AIMessage) for m in messages)
        with self._lock:
            index = max(self._calls, answered)
            self._calls = index + 1
        if not self.responses:
            for message in reversed(messages):
                if isinstance(message, HumanMessage):
                    return AIMessage(content=message_text(message))
            return AIMessage(content="")
        response = self.responses[min(index, len(self.responses) - 1)]
        if isinstance(response, str):
            return AIMessage(content=response)
        if isinstance(response, dict) and "raise" in response:
            raise FakeModelError(str(response["raise"]))
        if isinstance(response, dict) and "tool_calls" in response:
            calls = [
                {"name": call["name"], "args": call.get("args") or {}, "id": f"call_{index}_{n}"}
                for n, call in enumerate(response["tool_calls"])
            ]
            return AIMessage(content=str(response.get("content") or ""), tool_calls=calls)
        return AIMessage(content=json.dumps(response))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """The scripted answer word by word, so streaming can be tested offline."""
        message = self._next_message(messages)
        if message.tool_calls or not isinstance(message.content, str):
            yield ChatGenerationChunk(
                message=AIMessageChunk(content=message.content, tool_calls=message.tool_calls)
            )
            return
        for piece in re.findall(r"\S+\s*|\s+", message.content) or [""]:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next_message(messages))])


def default_model_factory(
    *,
    provider: str,
    model: str | None = None,
    temperature: float | None = None,
    responses: Sequence[str | dict[str, Any]] | None = None,
    node_name: str | None = None,
) -> BaseChatModel:
    """Build the model for ``provider`` (what :func:`create_chat_model` does
    unless a custom factory is set; custom factories may delegate here).

    ``responses`` only applies to ``fake``; ``node_name`` is unused here and
    exists for custom factories that pick a model per node.
    """
    name = (provider or "").strip().lower()
    if name == "fake":
        return FakeChatModel(responses)
    if name not in _PROVIDERS:
        raise UnknownProvider(provider)
    module_name, class_name, package = _PROVIDERS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProviderNotInstalled(name, package) from exc
    chat_class = getattr(module, class_name)
    kwargs: dict[str, Any] = {}
    if model is not None:
        kwargs["model"] = model
    if temperature is not None:
        kwargs["temperature"] = temperature
    return chat_class(**kwargs)


_factory: ModelFactory | None = None


def set_model_factory(factory: ModelFactory | str | None) -> None:
    """Route every :func:`create_chat_model` call through ``factory``.

    Process-wide, for projects (settings) and tests.  ``factory`` is a
    callable taking the keyword arguments ``provider, model, temperature,
    responses, node_name``, or a dotted path to one (``"pkg.mod.func"`` or
    ``"pkg.mod:func"``); ``None`` restores :func:`default_model_factory`.
    """
    global _factory
    if isinstance(factory, str):
        factory = _import_dotted(factory)
    if factory is not None and not callable(factory):
        raise TypeError(f"a model factory must be callable, got {type(factory).__name__}")
    _factory = factory


def get_model_factory() -> ModelFactory:
    """The factory :func:`create_chat_model` uses right now."""
    return _factory if _factory is not None else default_model_factory


def create_chat_model(
    provider: str,
    model: str | None = None,
    temperature: float | None = None,
    *,
    responses: Sequence[str | dict[str, Any]] | None = None,
    node_name: str | None = None,
) -> BaseChatModel:
    """The chat model a node should call, built by the active model factory.

    Raises :class:`UnknownProvider` or :class:`ProviderNotInstalled` (from
    the default factory) with a message that says how to fix it.
    """
    return get_model_factory()(
        provider=provider,
        model=model,
        temperature=temperature,
        responses=responses,
        node_name=node_name,
    )


def _import_dotted(path: str) -> Any:
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ImportError(
            f"model factory {path!r} is not a dotted path like 'package.module.function'"
        )
    module = importlib.import_module(module_name)
    try:
        target: Any = module
        for part in attr.split("."):
            target = getattr(target, part)
    except AttributeError:
        raise ImportError(
            f"model factory {path!r}: {module_name!r} has no attribute {attr!r}"
        ) from None
    return target
