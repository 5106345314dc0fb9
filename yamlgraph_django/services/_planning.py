"""Deciding what a resume will invoke, and refusing answers that do not fit.

Reads the session's checkpoint (the truth about what it waits for), never the row
alone, and raises InvalidInput before anything runs: a refused answer leaves the
session exactly as it was.
"""

from __future__ import annotations

from typing import Any

from yamlgraph_django.exceptions import InvalidInput
from yamlgraph_django.models import Session, SessionStatus
from yamlgraph_django.services._common import (
    MISSING,
    graph_config,
    has_checkpoint,
    interrupts_of,
    read_state,
    require_json,
)
from yamlgraph_django.services._execution import Plan, last_question
from yamlgraph_django.services.answers import check_answers


def plan_resume(
    app: Any, session: Session, previous: str, value: Any, values: dict[str, Any] | None
) -> tuple[Plan, Any]:
    """Read the checkpoint and decide what to invoke; InvalidInput if the answer does
    not fit what the session is waiting for. Returns (plan, the value to audit)."""
    answering = value is not MISSING or values is not None
    snapshot = read_state(app, session)
    if not has_checkpoint(snapshot):
        # A start that failed before LangGraph wrote anything: run it again from the input.
        if answering:
            raise InvalidInput(
                errors={
                    "value": "the session is not waiting for an answer; "
                    "resume without a value to retry it"
                }
            )
        return {"kind": "input", "input": session.input}, None

    pending = pending_of(snapshot)
    asked = snapshot  # the checkpoint whose questions are answered
    rewind_from: str | None = None
    if not pending and answering and previous == SessionStatus.FAILED:
        earlier = last_question(app, session)
        if earlier is not None:
            pending = pending_of(earlier)
            asked = earlier
            rewind_from = earlier.config["configurable"]["checkpoint_id"]
    if not pending:
        if answering:
            raise InvalidInput(
                errors={
                    "value": "the session is not waiting for an answer; "
                    "resume without a value to retry it"
                }
            )
        return {"kind": "continue"}, None
    if not answering:
        questions = "; ".join(f"{i.id}: {i.value!r}" for i in pending)
        raise InvalidInput(errors={"value": f"the session is waiting for an answer ({questions})"})

    ids = [i.id for i in pending]
    shown = [i.get("id") for i in session.interrupts or [] if isinstance(i, dict)]
    if (
        previous == SessionStatus.INTERRUPTED
        and rewind_from is None
        and sorted(shown) != sorted(ids)
    ):
        # The row shows other questions than the checkpoint waits for (a run that advanced
        # the checkpoint but could not record it). Never route an answer to a question
        # its author has not seen: refresh the row and ask again.
        current = interrupts_of(snapshot, graph_config(session.graph))
        questions = "; ".join(f"{i['id']}: {i['value']!r}" for i in current)
        raise StaleQuestion(
            current,
            InvalidInput(
                errors={
                    "value": f"the pending question changed; answer the current one ({questions})"
                }
            ),
        )
    if values is not None:
        if not isinstance(values, dict) or not values:
            raise InvalidInput(
                errors={"values": "must be a non-empty object of {interrupt_id: value}"}
            )
        unknown = [str(key) for key in values if key not in ids]
        if unknown:
            raise InvalidInput(
                errors={
                    "values": f"unknown interrupt id(s) {', '.join(unknown)}; "
                    f"pending: {', '.join(ids)}"
                }
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
    require_json(answers, field)
    check_answers(graph_config(session.graph), asked, answers, field)  # issue 14
    if rewind_from is not None:
        return {"kind": "rewind", "checkpoint_id": rewind_from, "answers": answers}, given
    return {"kind": "resume", "resume": answers}, given


class StaleQuestion(Exception):
    """Internal: the row's pending questions were stale; carries the current ones."""

    def __init__(self, current: list[dict[str, Any]], error: InvalidInput) -> None:
        super().__init__(error.detail)
        self.current = current
        self.error = error


def pending_of(snapshot: Any) -> list[Any]:
    return list(snapshot.interrupts or ())
