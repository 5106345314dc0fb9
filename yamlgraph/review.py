"""Review questions in LangChain's human-in-the-loop shape, and agent-inbox's answers.

An interrupt node with a `review:` block asks a person to approve, edit or reject one
action before the graph takes it:

    confirm:
      type: interrupt
      review:
        action: send_email
        args: {to: "{state.to}", body: "{state.draft}"}
        description: "Send this e-mail?"
        allowed: [approve, edit, reject]
      resume_key: decision

It asks with `{"action_requests": [{name, args, description}], "review_configs":
[{action_name, allowed_decisions}]}` (what agent-chat-ui and LangChain's HITL middleware
show as Approve / Edit / Reject) and takes `{"decisions": [{"type": "approve"} |
{"type": "reject", "message": ...} | {"type": "edit", "edited_action": {name, args}}]}`,
one decision alone, or agent-inbox's `[{"type": "accept" | "ignore" | "response" |
"edit", "args": ...}]`. `resume_key` gets `{type, args, message}`: the decision, the
action's arguments (the edited ones after an edit) and the reviewer's message.

Pure functions: the engine, the Django service and every door share them, so an answer
is refused with the same words everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DECISIONS = ("approve", "edit", "reject")
REVIEW_KEYS = {"action", "args", "description", "allowed"}
#: agent-inbox's answer types
INBOX_TYPES = ("accept", "ignore", "response", "edit")

Problem = tuple[tuple[str, ...], str]


def review_problems(review: Any) -> list[Problem]:
    """What is wrong with a node's `review:` block, as (sub-path, message) pairs."""
    if not isinstance(review, Mapping):
        return [(("review",), "must be a mapping with 'action' (and 'args', 'allowed')")]
    problems: list[Problem] = []
    for key in review:
        if key not in REVIEW_KEYS:
            known = ", ".join(sorted(REVIEW_KEYS))
            problems.append((("review", str(key)), f"unknown review key '{key}'; known: {known}"))
    action = review.get("action")
    if not isinstance(action, str) or not action.strip():
        problems.append((("review", "action"), "a review needs 'action' (the action's name)"))
    args = review.get("args", {})
    if not isinstance(args, Mapping | str):
        problems.append((("review", "args"), "must be a mapping of arguments (or a template)"))
    description = review.get("description")
    if description is not None and not isinstance(description, str):
        problems.append((("review", "description"), "must be text (a template)"))
    allowed = review.get("allowed", list(DECISIONS))
    if not isinstance(allowed, list) or not allowed:
        problems.append((("review", "allowed"), f"must be a list of {', '.join(DECISIONS)}"))
    else:
        for index, decision in enumerate(allowed):
            if decision not in DECISIONS:
                problems.append(
                    (
                        ("review", "allowed", str(index)),
                        f"unknown decision '{decision}'; use {', '.join(DECISIONS)}",
                    )
                )
    return problems


def review_request(action: str, args: Any, description: str, allowed: list[str]) -> dict:
    """The question in LangChain's HITL shape."""
    return {
        "action_requests": [{"name": action, "args": args, "description": description}],
        "review_configs": [{"action_name": action, "allowed_decisions": list(allowed)}],
    }


def review_of(payload: Any) -> dict[str, Any] | None:
    """{action, args, allowed} of a question in the HITL shape; None for other questions."""
    if not isinstance(payload, Mapping):
        return None
    requests, configs = payload.get("action_requests"), payload.get("review_configs")
    if not (isinstance(requests, list) and requests and isinstance(requests[0], Mapping)):
        return None
    request = requests[0]
    allowed: list[str] = list(DECISIONS)
    if isinstance(configs, list) and configs and isinstance(configs[0], Mapping):
        declared = configs[0].get("allowed_decisions")
        if isinstance(declared, list) and declared:
            allowed = [str(item) for item in declared]
    return {"action": str(request.get("name", "")), "args": request.get("args"), "allowed": allowed}


def is_inbox_answer(value: Any, *, any_type: bool = False) -> bool:
    """Is `value` agent-inbox's answer shape, `[{"type": ..., "args": ...}]` (with one of
    its types, unless `any_type`)?"""
    return (
        isinstance(value, list)
        and len(value) >= 1
        and all(
            isinstance(item, Mapping)
            and isinstance(item.get("type"), str)
            and (any_type or item["type"] in INBOX_TYPES)
            and set(item) <= {"type", "args"}
            for item in value
        )
    )


def decision_of(review: Mapping[str, Any], value: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(the decision as {type, args, message}, None) or (None, why `value` is not one)."""
    allowed = list(review.get("allowed") or DECISIONS)
    action = review.get("action")
    original = review.get("args")
    if isinstance(value, Mapping) and "decisions" in value:
        decisions = value["decisions"]
        if not isinstance(decisions, list):
            return None, "'decisions' must be a list with one decision"
        if len(decisions) != 1:
            return None, f"one decision expected (one action is reviewed), got {len(decisions)}"
        value = decisions[0]
        if _is_inbox_decision(value):  # agent-inbox's buttons as HITL decisions
            value = _from_inbox(value, original)
    elif is_inbox_answer(value, any_type=True):
        if len(value) != 1:
            return None, f"one answer expected (one action is reviewed), got {len(value)}"
        value = _from_inbox(value[0], original)
    if not isinstance(value, Mapping) or not isinstance(value.get("type"), str):
        shown = ", ".join(allowed)
        return None, f'must be a decision like {{"type": "approve"}} (one of: {shown})'
    kind = value["type"]
    if kind not in DECISIONS:
        return None, f"unknown decision type '{kind}'; use one of: {', '.join(allowed)}"
    if kind not in allowed:
        return None, f"decision '{kind}' is not allowed here; use one of: {', '.join(allowed)}"
    message = value.get("message")
    if message is not None and not isinstance(message, str):
        return None, "'message' must be text"
    args = original
    if kind == "edit":
        edited = value.get("edited_action")
        if not isinstance(edited, Mapping) or not isinstance(edited.get("args"), Mapping):
            return None, "an edit needs 'edited_action': {name, args} with the new arguments"
        name = edited.get("name", action)
        if name != action:
            return None, f"edited_action.name '{name}' is not the reviewed action '{action}'"
        args = dict(edited["args"])
    return {"type": kind, "args": args, "message": message}, None


def _is_inbox_decision(value: Any) -> bool:
    """A decision as agent-inbox sends it to a HITL question: its answer with the type
    renamed (`{"type": "approve" | "reject" | "edit" | "ignore", "args": ...}`), where a
    HITL decision has `message` or `edited_action` instead of `args`."""
    return isinstance(value, Mapping) and "args" in value and set(value) <= {"type", "args"}


def _from_inbox(answer: Mapping[str, Any], original: Any) -> Any:
    """agent-inbox's answer as a HITL decision (what its buttons mean); its `accept` and
    `response` also come renamed `approve` and `reject`."""
    kind, args = answer.get("type"), answer.get("args")
    if kind in ("accept", "approve"):
        return {"type": "approve"}
    if kind == "ignore":
        return {"type": "reject"}
    if kind in ("response", "reject"):
        return {"type": "reject", "message": args if isinstance(args, str) else None}
    if kind == "edit":
        edited: dict[str, Any] = {"args": args}
        if isinstance(args, Mapping) and "args" in args:  # its action request, edited
            edited = {"args": args["args"]}
            if isinstance(args.get("action"), str):
                edited["name"] = args["action"]
        return {"type": "edit", "edited_action": edited}
    return {"type": kind}


def inbox_text(value: Any) -> tuple[Any, str | None]:
    """A plain question's answer given in agent-inbox's shape: (its text, None) for a
    `response`; (None, why) for `ignore`, `accept` or `edit`, which do not answer a
    question; (value, None) for any other answer."""
    if not is_inbox_answer(value):
        return value, None
    kinds = [item["type"] for item in value]
    refused = next((kind for kind in kinds if kind != "response"), None)
    if refused is not None:
        return None, f"'{refused}' does not answer this question; respond with your answer"
    if len(value) != 1:
        return None, f"one response expected, got {len(value)}"
    return value[0].get("args"), None
