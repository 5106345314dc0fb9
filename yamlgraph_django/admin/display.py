"""Small HTML renderers shared by the graph and session pages.

Everything here escapes its input (`format_html`, `conditional_escape`): state values, questions
and YAML come from users and LLMs and must never be rendered as markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.utils.formats import date_format
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.timezone import localtime

from yamlgraph_django.forms import question_text
from yamlgraph_django.models import SessionStatus

#: Background colour per status; white text reads on all of them in light and dark themes.
STATUS_COLOURS: dict[str, str] = {
    SessionStatus.PENDING: "#6c757d",
    SessionStatus.RUNNING: "#0d6efd",
    SessionStatus.INTERRUPTED: "#d97706",
    SessionStatus.COMPLETED: "#198754",
    SessionStatus.FAILED: "#dc3545",
    SessionStatus.CANCELLED: "#495057",
}

EMPTY = mark_safe('<span class="quiet">-</span>')


def status_badge(status: str) -> SafeString:
    """A coloured pill with the status label, so a failed session stands out in a long list."""
    label = SessionStatus(status).label if status in SessionStatus.values else status
    colour = STATUS_COLOURS.get(status, "#6c757d")
    return format_html(
        '<span class="yamlgraph-status yamlgraph-status-{}" style="display:inline-block;'
        "padding:1px 8px;border-radius:10px;color:#fff;background:{};font-size:0.85em;"
        'font-weight:600;white-space:nowrap">{}</span>',
        status,
        colour,
        label,
    )


def pretty_json(value: Any) -> SafeString:
    """Indented JSON in a <pre>; values JSON cannot encode (messages, dates) become strings."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
    return format_html(
        '<pre class="yamlgraph-json" style="margin:0;white-space:pre-wrap;'
        'max-height:40em;overflow:auto">{}</pre>',
        text,
    )


def pre(text: str) -> SafeString:
    """Verbatim text (YAML, Mermaid, tracebacks) that keeps its line breaks."""
    return format_html(
        '<pre style="margin:0;white-space:pre-wrap;max-height:50em;overflow:auto">{}</pre>',
        text,
    )


def short_question(interrupts: Any, length: int = 80) -> str:
    """The first pending question, cut to `length` characters, plus how many more wait."""
    if not interrupts:
        return ""
    first = interrupts[0].get("value") if isinstance(interrupts[0], dict) else interrupts[0]
    text = Truncator(" ".join(question_text(first).split())).chars(length)
    if len(interrupts) > 1:
        text += f" (+{len(interrupts) - 1})"
    return text


#: Times to the second: a session's steps are seconds apart, minutes hide their order.
TIME_FORMAT = "Y-m-d H:i:s"


def when(value: Any) -> str:
    """A datetime to the second, in the admin's timezone; ISO strings pass through."""
    if value is None or value == "":
        return ""
    if hasattr(value, "tzinfo"):
        return date_format(localtime(value) if value.tzinfo else value, TIME_FORMAT)
    return str(value)


def duration(start: Any, end: Any) -> str:
    """How long from `start` to `end`, as people say it: 0.4 s, 12 s, 3 min 5 s, 2 h 1 min."""
    if start is None or end is None:
        return ""
    seconds = max((end - start).total_seconds(), 0.0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> SafeString:
    """A plain admin-styled table; each cell is escaped unless it is already safe markup."""
    head = format_html_join("", "<th scope='col'>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        (
            (mark_safe("".join(f"<td>{conditional_escape(cell)}</td>" for cell in row)),)
            for row in rows
        ),
    )
    return format_html('<table style="width:100%"><thead><tr>{}</tr></thead>{}</table>', head, body)
