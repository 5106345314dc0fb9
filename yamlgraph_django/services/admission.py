"""What a run of a LangGraph thread may be given, and who may ask for it: the same rules
as `start_session` and `resume_session`, applied to the protocol's run request before
the thread is claimed, so `/lg/` refuses exactly what the API refuses.

- start input: known fields, declared types, JSON every store holds (`validation`), and
  on a thread's first run its `required` fields (`answers.check_start_input`);
- an answer (`command.resume`): what the pending question's `response_schema` takes
  (`choices`, `response`, `required`: `answers.check_answers`), by value or by id;
- who: `rules` (answer, start, update state), with the thread's owner and permissions.

Errors name the field as the protocol's body does: `input.amount`, `command.resume`,
`command.resume.<interrupt id>`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from yamlgraph_django.exceptions import InvalidInput
from yamlgraph_django.services import rules
from yamlgraph_django.services.answers import (
    check_answers,
    check_start_input,
    schemas_by_interrupt,
)
from yamlgraph_django.services.validation import require_json, validate_input


def authorize_run(actor: Any, session: Any, command: Mapping[str, Any] | None, graph: Any) -> None:
    """The rulebook's verdict on a run of `session`: answering (`command.resume`) or
    running on a thread that has run before needs the answer permission; the first run
    of a fresh thread is a start; `command.update`/`goto` also change the state."""
    command = command or {}
    if "resume" in command:
        resume = command["resume"]
        ids = [str(key) for key in resume] if isinstance(resume, Mapping) else None
        rules.authorize_answer(actor, session, ids)
    elif session.graph_id is None:
        rules.authorize_view(actor, session)
        rules.authorize_start(actor, graph)
    else:
        rules.authorize_answer(actor, session)
    if command.get("update") is not None or command.get("goto"):
        rules.authorize_update_state(actor, session)


def check_run_input(config: Any, data: Any, *, first_run: bool) -> dict[str, Any] | None:
    """The start input of a run, checked like `start_session`'s; None when none given.

    Required fields are checked on a thread's first run only: later runs add to a state
    that has them already.
    """
    if data is None and not first_run:
        return None
    try:
        checked = validate_input(config, data)
        if first_run:
            check_start_input(config, checked)
    except InvalidInput as exc:
        raise InvalidInput(exc.detail, errors=_under("input", exc.errors)) from None
    return checked


def check_resume(
    config: Any,
    head: Any,
    resume: Any,
    *,
    cached: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """`command.resume` as {interrupt_id: answer}, each checked against its question's
    response schema; InvalidInput naming `command.resume` otherwise.

    A mapping whose keys are all pending interrupt ids answers those; anything else is
    the answer to the one pending interrupt (the caller refused several already). With
    no `head` (checkpoint) read, the questions `cached` on the session row (each with
    its `response_schema`) stand in for it: the same check, without a store read.
    """
    if head is None and cached is not None:
        schemas = {str(item["id"]): item["response_schema"] for item in cached}
        pending = list(schemas)
    else:
        schemas = schemas_by_interrupt(config, head)
        pending = [interrupt.id for interrupt in getattr(head, "interrupts", None) or ()]
    by_id = isinstance(resume, Mapping) and resume and all(key in pending for key in resume)
    answers = dict(resume) if by_id else {pending[0]: resume}
    require_json(resume, "command.resume")
    try:
        check_answers(schemas, answers, "values" if by_id else "value")
    except InvalidInput as exc:
        if by_id:
            errors = {
                f"command.resume.{key}": message
                for key, message in exc.errors.get("values", exc.errors).items()
            }
        else:
            errors = {"command.resume": exc.errors.get("value", exc.detail)}
        raise InvalidInput(errors=errors) from None
    return answers


def refuse_empty_command(head: Any) -> None:
    """An empty `command` ({}) says nothing: on a waiting thread it is an answer left
    out (langgraph-sdk drops `resume: None` from a command), so it is refused like
    `resume: null` rather than run as if no command had been sent."""
    waiting = bool(getattr(head, "interrupts", None))
    if waiting:
        raise InvalidInput(
            errors={"command.resume": "an answer is required (the command is empty)"}
        )
    raise InvalidInput(errors={"command": "an empty command: give resume, update or goto"})


def _under(prefix: str, errors: Mapping[str, Any]) -> dict[str, Any]:
    """`{"amount": ...}` as `{"input.amount": ...}` (a path already under it stays)."""
    return {
        key if key == prefix or key.startswith(f"{prefix}.") else f"{prefix}.{key}": message
        for key, message in errors.items()
    }
