"""Deciding what a resume will invoke, and refusing answers that do not fit.

An interrupted session is planned from its row: the row's questions were written from
the checkpoint they describe, and the claim that follows compares the row's revision,
so an answer is bound to the question its author read. A failed session is planned
from its checkpoints (retry the failed step, or answer its last question again).
Everything raises before anything runs: a refused answer leaves the session as it was.
"""

from __future__ import annotations

from typing import Any

from yamlgraph_django.exceptions import InvalidInput, StaleQuestion
from yamlgraph_django.models import Session, SessionStatus
from yamlgraph_django.services.answers import check_answers, schemas_by_interrupt
from yamlgraph_django.services.engine import Plan, last_question
from yamlgraph_django.services.snapshots import has_checkpoint, interrupts_of, thread_config
from yamlgraph_django.services.stores import graph_config, store_errors
from yamlgraph_django.services.validation import MISSING, require_json

NOT_WAITING = "the session is not waiting for an answer; resume without a value to retry it"


def plan_resume(
    app: Any, session: Session, value: Any, values: dict[str, Any] | None
) -> tuple[Plan, Any]:
    """What to invoke for this answer; InvalidInput if it does not fit what the session
    waits for, StaleQuestion if it names a question that is no longer pending.
    Returns (plan, the value to audit)."""
    answering = value is not MISSING or values is not None
    if session.status == SessionStatus.INTERRUPTED:
        pending = [i for i in session.interrupts or [] if isinstance(i, dict) and "id" in i]
        if pending:
            # The row's questions carry the schema of the node that asked each one.
            schemas = {str(i["id"]): i.get("response_schema") for i in pending}
            return _answer(pending, value, values, answering, schemas, rewind_from=None)
    # Failed (or a row without questions): the checkpoints say what a retry means.
    with store_errors():
        snapshot = app.get_state(thread_config(session))
        if not has_checkpoint(snapshot):
            # A start that failed before LangGraph wrote anything: run it again.
            if answering:
                raise InvalidInput(errors={"value": NOT_WAITING})
            return {"kind": "input", "input": session.input}, None
        pending = interrupts_of(snapshot)
        asked = snapshot  # the checkpoint whose questions are answered
        rewind_from: str | None = None
        if not pending and answering:
            earlier = last_question(app, session)
            if earlier is not None:
                pending = interrupts_of(earlier)
                asked = earlier
                rewind_from = earlier.config["configurable"]["checkpoint_id"]
    if not pending:
        if answering:
            raise InvalidInput(errors={"value": NOT_WAITING})
        return {"kind": "continue"}, None
    schemas = schemas_by_interrupt(graph_config(session.graph), asked)
    return _answer(pending, value, values, answering, schemas, rewind_from=rewind_from)


def _answer(
    pending: list[dict[str, Any]],
    value: Any,
    values: dict[str, Any] | None,
    answering: bool,
    schemas: dict[str, Any],
    *,
    rewind_from: str | None,
) -> tuple[Plan, Any]:
    ids = [str(i["id"]) for i in pending]
    if not answering:
        questions = "; ".join(f"{i['id']}: {i['value']!r}" for i in pending)
        raise InvalidInput(errors={"value": f"the session is waiting for an answer ({questions})"})
    if values is not None:
        if not isinstance(values, dict) or not values:
            raise InvalidInput(
                errors={"values": "must be a non-empty object of {interrupt_id: value}"}
            )
        unknown = [str(key) for key in values if key not in ids]
        if unknown:
            raise StaleQuestion(
                f"interrupt id(s) {', '.join(unknown)} are not pending (answered already, "
                f"or never asked); pending: {', '.join(ids)}"
            )
        answers, given, field = dict(values), dict(values), "values"
    else:
        if len(pending) > 1:
            raise InvalidInput(
                errors={
                    "value": f"{len(pending)} interrupts are pending; answer them with "
                    f"values={{interrupt_id: value}} (ids: {', '.join(ids)})"
                }
            )
        answers, given, field = {ids[0]: value}, value, "value"
    require_json(given, field)
    check_answers(schemas, answers, field)
    if rewind_from is not None:
        return {"kind": "rewind", "checkpoint_id": rewind_from, "answers": answers}, given
    return {"kind": "resume", "resume": answers}, given
