"""Chat graphs: the `messages` state type and what nodes do with a conversation.

A state field `{type: messages}` holds a conversation with LangGraph's `add_messages`
semantics: what a node or a client writes is appended (a message with the id of one
already there replaces it), and LangChain message dicts from any client
(`{"type": "human", "content": "hi"}`, `{"role": "user", ...}`, content blocks) are
turned into messages. An extension of ours beyond yamlgraph's format; plain graphs
never see it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    BaseMessageChunk,
    HumanMessage,
    convert_to_messages,
    message_chunk_to_message,
)

MESSAGES_TYPE = "messages"
MESSAGE_EXAMPLE = '[{"type": "human", "content": "..."}]'


def messages_problem(value: Any) -> str | None:
    """Why `value` cannot be added to a messages field; None when it can.

    Takes what `add_messages` takes: a list of messages or message dicts, one message
    dict, or a string (a human message).
    """
    if isinstance(value, str | BaseMessage):
        return None
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        return f"must be a list of messages like {MESSAGE_EXAMPLE}"
    for index, item in enumerate(value):
        if isinstance(item, BaseMessage):
            continue
        if not isinstance(item, Mapping | str):
            return f"item {index} is not a message like {MESSAGE_EXAMPLE}"
        try:
            convert_to_messages([item])
        except (ValueError, TypeError, NotImplementedError, KeyError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return f"item {index} is not a message ({reason})"
    return None


def as_messages(value: Any) -> list[AnyMessage]:
    """A messages field's value (or a client's input for it) as a list of messages."""
    if value is None:
        return []
    if isinstance(value, str | BaseMessage | Mapping):
        value = [value]
    return list(convert_to_messages(list(value)))


def last_human_text(value: Any) -> str | None:
    """The text of the last human message in `value` (what a chat client sent)."""
    from yamlgraph.llm import message_text

    for message in reversed(as_messages(value)):
        if isinstance(message, HumanMessage):
            return message_text(message)
    return None


def reply_message(reply: BaseMessage) -> AIMessage:
    """A model's reply as the message to store: a streamed reply's chunks joined, its id
    kept (the id its `messages` chunks were streamed under)."""
    if isinstance(reply, BaseMessageChunk):
        reply = message_chunk_to_message(reply)
    if isinstance(reply, AIMessage):
        return reply
    return AIMessage(content=reply.content, id=reply.id)


def new_messages(before: Iterable[BaseMessage], after: list[BaseMessage]) -> list[BaseMessage]:
    """The messages of `after` that `before` did not hold (a node's own turns)."""
    return after[len(list(before)) :]
