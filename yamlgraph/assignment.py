"""Who answers an interrupt, and by when: the `assign`, `due`, `remind_before` and
`on_timeout` keys of an interrupt node (and `defaults.assign` / `defaults.due`).

An extension of yamlgraph's format. The engine only validates these keys and carries
them as data: it never decides who may answer. The Django app reads them when a question
is asked (`assignment_of`) and enforces them on every door.

    ask_approver:
      type: interrupt
      message: "Approve?"
      assign: {groups: [finance], users: ["{state.manager}"], exclude_owner: true}
      due: 2d              # 30s, 30m, 4h, 2d, 1w or ISO 8601 (P2D, PT4H)
      remind_before: 4h
      on_timeout: {assign: {groups: [finance-leads]}}   # or answer: "no", or fail: "..."

Pure Python: never imports Django.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from yamlgraph.errors import did_you_mean
from yamlgraph.node_types.base import Collector, KeyExtension, NodeCheck

#: Interrupt-node keys this module validates.
NODE_KEYS = {"assign", "due", "remind_before", "on_timeout"}
#: Keys `defaults:` accepts from this module.
DEFAULTS_KEYS = {"assign", "due"}
ASSIGN_KEYS = {"groups", "users", "permission", "exclude_owner"}
TIMEOUT_ACTIONS = ("assign", "answer", "fail")

_SHORT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_ISO = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PERMISSION = re.compile(r"^[A-Za-z_][\w]*\.[\w.-]+$")

Report = Callable[[tuple[Any, ...], str], None]


def parse_duration(text: Any) -> dt.timedelta:
    """A duration written `30s`, `30m`, `4h`, `2d`, `1w` or ISO 8601 (`P2D`, `PT4H30M`).

    Raises ValueError saying what is accepted, so a typo is reported where it is.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError("must be a duration such as 30m, 4h, 2d or P2D")
    if isinstance(text, int | float):
        raise ValueError(f"'{text}' has no unit: write {text}s, {text}m, {text}h or {text}d")
    match = _SHORT.match(text)
    if match:
        delta = dt.timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    else:
        iso = _ISO.match(text.strip().upper())
        if not iso:
            raise ValueError(
                f"'{text}' is not a duration: write 30m, 4h, 2d or ISO 8601 such as P2D or PT4H"
            )
        delta = dt.timedelta(**{k: float(v) for k, v in iso.groupdict().items() if v})
    if delta <= dt.timedelta(0):
        raise ValueError(f"'{text}' must be longer than zero")
    return delta


def check_assign(value: Any, path: tuple[Any, ...], report: Report) -> None:
    """`assign: {groups, users, permission, exclude_owner}`: at least one assignee."""
    if not isinstance(value, Mapping):
        report(path, "must be a mapping with groups, users and/or permission")
        return
    for key in value:
        if key not in ASSIGN_KEYS:
            report((*path, key), f"unknown assign key '{key}'{did_you_mean(str(key), ASSIGN_KEYS)}")
    for key in ("groups", "users"):
        names = value.get(key)
        if names is None:
            continue
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            report((*path, key), f"must be a list of {key[:-1]} names")
    permission = value.get("permission")
    if permission is not None and not (
        isinstance(permission, str) and _PERMISSION.match(permission)
    ):
        report((*path, "permission"), "must be 'app_label.codename', e.g. expenses.approve")
    if "exclude_owner" in value and not isinstance(value["exclude_owner"], bool):
        report((*path, "exclude_owner"), "must be true or false")
    if not any(value.get(key) for key in ("groups", "users", "permission")):
        report(path, "names nobody: give groups, users or a permission")


def check_duration(value: Any, path: tuple[Any, ...], report: Report) -> dt.timedelta | None:
    try:
        return parse_duration(value)
    except ValueError as exc:
        report(path, str(exc))
        return None


def check_interrupt(
    spec: Mapping[str, Any],
    path: tuple[Any, ...],
    report: Report,
    defaults: Mapping[str, Any] | None = None,
) -> None:
    """Validate an interrupt node's assignment keys; each problem is reported with its
    YAML path (`nodes.ask.on_timeout.assign.groups`)."""
    defaults = defaults or {}
    if "assign" in spec:
        check_assign(spec["assign"], (*path, "assign"), report)
    due = check_duration(spec["due"], (*path, "due"), report) if "due" in spec else None
    if due is None and "due" not in spec and "due" in defaults:
        try:
            due = parse_duration(defaults["due"])
        except ValueError:
            due = None  # reported under defaults.due
    if "remind_before" in spec:
        before = check_duration(spec["remind_before"], (*path, "remind_before"), report)
        if before is not None and due is None and "due" not in spec and "due" not in defaults:
            report((*path, "remind_before"), "needs 'due' (there is nothing to remind before)")
        elif before is not None and due is not None and before >= due:
            report((*path, "remind_before"), "must be shorter than 'due'")
    if "on_timeout" in spec:
        timeout = spec["on_timeout"]
        where = (*path, "on_timeout")
        if "due" not in spec and "due" not in defaults:
            report(where, "needs 'due' (nothing times out without one)")
        if not isinstance(timeout, Mapping) or len(timeout) != 1:
            report(where, "must be exactly one of assign: {...}, answer: VALUE or fail: MESSAGE")
            return
        ((action, value),) = timeout.items()
        if action not in TIMEOUT_ACTIONS:
            report(
                (*where, action),
                f"unknown on_timeout action '{action}'{did_you_mean(str(action), set(TIMEOUT_ACTIONS))};"
                " use assign, answer or fail",
            )
        elif action == "assign":
            check_assign(value, (*where, "assign"), report)
        elif action == "fail" and not (isinstance(value, str) and value.strip()):
            report((*where, "fail"), "must be the message the session fails with")


def check_defaults(defaults: Mapping[str, Any], report: Report) -> None:
    """`defaults.assign` and `defaults.due`, which apply to interrupts without their own."""
    if "assign" in defaults:
        check_assign(defaults["assign"], ("defaults", "assign"), report)
    if "due" in defaults:
        check_duration(defaults["due"], ("defaults", "due"), report)


def assignment_of(
    spec: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The assignment of an interrupt node, with the graph's defaults filled in:
    {"assign": {...} | None, "due": timedelta | None, "remind_before": timedelta | None,
    "on_timeout": {action: value} | None}. Only for a validated config."""
    defaults = defaults or {}
    assign = spec.get("assign", defaults.get("assign"))
    due = spec.get("due", defaults.get("due"))
    remind = spec.get("remind_before")
    return {
        "assign": normalized_assign(assign) if assign else None,
        "due": parse_duration(due) if due is not None else None,
        "remind_before": parse_duration(remind) if remind is not None else None,
        "on_timeout": dict(spec["on_timeout"]) if spec.get("on_timeout") else None,
    }


def normalized_assign(assign: Mapping[str, Any]) -> dict[str, Any]:
    """`assign` with lists for groups and users (a single name is allowed in YAML)."""

    def names(key: str) -> list[str]:
        value = assign.get(key) or []
        return [value] if isinstance(value, str) else list(value)

    return {
        "groups": names("groups"),
        "users": names("users"),
        "permission": assign.get("permission") or "",
        "exclude_owner": bool(assign.get("exclude_owner", False)),
    }


def check_assignment(ctx: NodeCheck) -> None:
    """The interrupt node's assignment keys, as the node type's extension check (the
    graph's `defaults:` supply `due` for `remind_before` and `on_timeout`)."""
    defaults = ctx.config.raw.get("defaults")
    check_interrupt(
        ctx.spec, ctx.path, ctx.issues.add, defaults if isinstance(defaults, Mapping) else {}
    )


def check_defaults_keys(defaults: dict, issues: Collector) -> None:
    """`defaults.assign` / `defaults.due`, reported through the graph's collector."""
    check_defaults(defaults, issues.add)


#: Listed in the interrupt node type's `extension_modules`: the keys this module adds to
#: interrupt nodes and to `defaults:`, with their checks.
INTERRUPT_KEYS = KeyExtension(
    keys=frozenset(NODE_KEYS),
    check=check_assignment,
    defaults_keys=frozenset(DEFAULTS_KEYS),
    check_defaults=check_defaults_keys,
)
