"""Chat graphs behind every door: a chat client's message answers the question a thread
waits at, when that question says so (`answer_from: FIELD` on its interrupt node).

agent-chat-ui and `useStream` send each chat message as a new run with input
`{"messages": [...]}`; on a thread paused at such a question that run resumes the graph
with the message (the node appends it to the conversation and writes its text to
`resume_key`) instead of starting over. The text is checked like any answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from yamlgraph.messages import last_human_text, messages_problem
from yamlgraph_django.exceptions import InvalidInput
from yamlgraph_django.services.answers import check_answers, schemas_by_interrupt

if TYPE_CHECKING:
    from yamlgraph.config import GraphConfig


def messages_errors(config: GraphConfig, data: Mapping[str, Any]) -> dict[str, str]:
    """{field: why} for each messages field of the input that holds no messages."""
    errors: dict[str, str] = {}
    for key, value in data.items():
        state_field = config.public_state_fields.get(key)
        if state_field is not None and state_field.type == "messages":
            problem = messages_problem(value)
            if problem:
                errors[str(key)] = problem
    return errors


def chat_answer(config: GraphConfig, head: Any, data: Any) -> dict[str, Any] | None:
    """The resume a chat message is ({interrupt_id: messages}), or None when the input
    answers no pending question (then it starts a run as usual).

    Raises InvalidInput when the message's text is not an answer the question takes.
    """
    if not isinstance(data, Mapping) or head is None:
        return None
    pending = list(getattr(head, "interrupts", None) or ())
    if not pending:
        return None
    schemas = schemas_by_interrupt(config, head)
    for interrupt in pending:
        source = (schemas.get(interrupt.id) or {}).get("answer_from")
        if not source or source not in data:
            continue
        unknown = sorted(str(key) for key in data if key != source)
        if unknown:
            raise InvalidInput(
                errors={
                    "input": f"the thread waits for an answer in '{source}';"
                    f" {', '.join(unknown)} cannot be given with it"
                }
            )
        problem = messages_problem(data[source])
        if problem:
            raise InvalidInput(errors={source: problem})
        text = last_human_text(data[source])
        if text is None:
            raise InvalidInput(errors={source: "the answer needs a human message"})
        check_answers({interrupt.id: schemas.get(interrupt.id)}, {interrupt.id: text}, "value")
        return {interrupt.id: data[source]}
    return None


def check_resume(
    config: GraphConfig, head: Any, pending: list[str], resume: Any, by_id: bool
) -> None:
    """InvalidInput if a resume's answer does not fit its question (choices, a response
    schema, a review's decisions); `by_id`: `resume` maps interrupt ids to answers."""
    answers = dict(resume) if by_id else {pending[0]: resume}
    check_answers(schemas_by_interrupt(config, head), answers, "values" if by_id else "value")
