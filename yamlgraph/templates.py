"""Templates in graph files: typed ``{expr}`` values, interpolation and Jinja2.

One function, :func:`render`, serves every templated field (prompts, interrupt
messages, passthrough outputs, variables) so the rules are the same
everywhere.  For a string, in this order:

a. the whole string (ignoring surrounding whitespace) is one ``{expr}``: the
   expression's value is returned *with its type*, so ``"{state.turn + 1}"``
   is an int and ``"{state.answers + [state.answer]}"`` a list;
b. the string contains ``{{``, ``{%`` or ``{#``: it is a Jinja2 template,
   rendered in an immutable sandbox (undefined names render as ``""``);
c. otherwise each ``{expr}`` is replaced by its value as text (``None`` ->
   ``""``, dicts and lists -> JSON).

Expressions use :mod:`yamlgraph.expressions`, never ``eval``.  Values taken
from state are inserted as data and never parsed as templates again, so an
answer that contains ``{{ ... }}`` cannot inject template code.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import ChainableUndefined, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from yamlgraph.expressions import Expression, ExpressionError, compile_expression

__all__ = ["TemplateError", "check_template", "render", "template_names"]

# How much of a template to quote in error messages.
_QUOTE_LIMIT = 300

# Immutable sandbox: no access to dunder attributes, and no calls that mutate
# lists/dicts (rendering a prompt must never change graph state).
# ChainableUndefined: ``{{ missing }}`` and ``{{ missing.deeper }}`` are "".
_ENV = ImmutableSandboxedEnvironment(
    undefined=ChainableUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)


class TemplateError(ValueError):
    """A template failed to render; the message quotes the template text."""

    def __init__(self, message: str, template: str | None = None) -> None:
        if template is not None:
            quoted = template if len(template) <= _QUOTE_LIMIT else template[:_QUOTE_LIMIT] + "..."
            message = f"{message} (in template {quoted!r})"
        super().__init__(message)
        self.template = template


class _TemplateSyntaxError(Exception):
    """Internal: a ``{...}`` placeholder that cannot be scanned or compiled."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class _Placeholder:
    expression: Expression


@dataclass(frozen=True, slots=True)
class _Plan:
    """How a string is rendered, decided once per template text."""

    kind: str  # "value" | "jinja" | "interpolate" | "literal"
    parts: tuple[str | _Placeholder, ...] = ()


def render(
    template: Any, state: Mapping[str, Any], variables: Mapping[str, Any] | None = None
) -> Any:
    """Render ``template`` against ``state`` (and ``variables``, which win).

    Dicts are rendered value by value (keys stay as they are), lists item by
    item, strings by the rules in the module docstring; anything else is
    returned unchanged.  Raises :class:`TemplateError` when a string cannot
    be rendered.
    """
    if isinstance(template, str):
        return _render_string(template, state, variables)
    if isinstance(template, Mapping):
        return {key: render(value, state, variables) for key, value in template.items()}
    if isinstance(template, list):
        return [render(item, state, variables) for item in template]
    return template


def check_template(text: str) -> list[str]:
    """Static syntax errors in ``text`` (empty list when it is fine).

    Used by the graph validator so a typo in a prompt or message fails at
    load time, with a position, instead of at run time.
    """
    if not isinstance(text, str):
        return []
    try:
        plan = _plan(text)
    except _TemplateSyntaxError as exc:
        return [exc.message]
    if plan.kind == "jinja":
        try:
            _ENV.parse(text)
        except jinja2.TemplateSyntaxError as exc:
            return [f"Jinja syntax error on line {exc.lineno}: {exc.message}"]
    return []


def template_names(text: str) -> set[str]:
    """Best-effort set of names a template reads (state keys or variables).

    ``{state.a.b}`` and ``{a}`` both give ``"a"``; in Jinja, undeclared
    top-level names and ``state.x`` / ``state["x"]`` give their names.  Meant
    for validation hints, so a template with syntax errors gives what it can.
    """
    if not isinstance(text, str):
        return set()
    try:
        plan = _plan(text)
    except _TemplateSyntaxError:
        return set()
    names: set[str] = set()
    if plan.kind == "jinja":
        try:
            tree = _ENV.parse(text)
        except jinja2.TemplateSyntaxError:
            return set()
        names.update(meta.find_undeclared_variables(tree))
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            if isinstance(node.node, nodes.Name) and node.node.name == "state":
                if isinstance(node, nodes.Getattr):
                    names.add(node.attr)
                elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                    names.add(node.arg.value)
        names -= set(_ENV.globals)
        names.discard("state")
        return names
    for part in plan.parts:
        if isinstance(part, _Placeholder):
            names.update(part.expression.names)
    return names


def _render_string(text: str, state: Mapping[str, Any], variables: Mapping[str, Any] | None) -> Any:
    try:
        plan = _plan(text)
    except _TemplateSyntaxError as exc:
        raise TemplateError(exc.message, text) from None
    if plan.kind == "literal":
        return text
    if plan.kind == "jinja":
        return _render_jinja(text, state, variables)
    try:
        if plan.kind == "value":
            placeholder = plan.parts[0]
            assert isinstance(placeholder, _Placeholder)
            return placeholder.expression.evaluate(state, variables)
        pieces: list[str] = []
        for part in plan.parts:
            if isinstance(part, str):
                pieces.append(part)
            else:
                pieces.append(_to_text(part.expression.evaluate(state, variables)))
        return "".join(pieces)
    except ExpressionError as exc:
        raise TemplateError(str(exc), text) from None


def _render_jinja(text: str, state: Mapping[str, Any], variables: Mapping[str, Any] | None) -> str:
    context: dict[str, Any] = dict(state)
    if variables:
        context.update(variables)
    context["state"] = state
    try:
        return _jinja_template(text).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"Jinja syntax error on line {exc.lineno}: {exc.message}", text
        ) from None
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(f"blocked by the template sandbox: {exc}", text) from None
    except Exception as exc:  # filters and operators can raise anything
        raise TemplateError(f"{type(exc).__name__}: {exc}", text) from None


@functools.lru_cache(maxsize=512)
def _jinja_template(text: str) -> jinja2.Template:
    return _ENV.from_string(text)


def _to_text(value: Any) -> str:
    """How a value reads when interpolated into a longer string."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _is_jinja(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


@functools.lru_cache(maxsize=2048)
def _plan(text: str) -> _Plan:
    """Decide once per template text how it renders (raises on bad syntax)."""
    stripped = text.strip()
    if stripped.startswith("{") and not stripped.startswith("{{"):
        end = _matching_brace(stripped, 0)
        if end == len(stripped) - 1:
            start = text.index("{") + 1
            return _Plan("value", (_placeholder(start, stripped[1:-1]),))
    if _is_jinja(text):
        return _Plan("jinja")
    if "{" not in text:
        return _Plan("literal")
    parts: list[str | _Placeholder] = []
    position = 0
    literal_start = 0
    while True:
        brace = text.find("{", position)
        if brace < 0:
            break
        end = _matching_brace(text, brace)
        if end < 0:
            raise _TemplateSyntaxError(f"unclosed '{{' at position {brace}")
        if brace > literal_start:
            parts.append(text[literal_start:brace])
        parts.append(_placeholder(brace + 1, text[brace + 1 : end]))
        position = literal_start = end + 1
    if literal_start < len(text):
        parts.append(text[literal_start:])
    return _Plan("interpolate", tuple(parts))


def _placeholder(start: int, source: str) -> _Placeholder:
    try:
        return _Placeholder(compile_expression(source))
    except ExpressionError as exc:
        where = start + (exc.offset or 0)
        raise _TemplateSyntaxError(
            f"invalid expression '{{{source}}}' at position {where}: {exc}"
        ) from None


def _matching_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``start``, or -1.

    Nested braces (dict literals) and quoted strings inside the expression
    are skipped, so ``{state.d["}"]}`` is one placeholder.
    """
    depth = 0
    quote: str | None = None
    i = start
    while i < len(text):
        char = text[i]
        if quote is not None:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1
