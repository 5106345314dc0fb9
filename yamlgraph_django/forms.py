"""Forms of the admin's custom pages: answer pending interrupts and start a session.

They only turn what a person typed into the values the session service takes; they
never run a graph themselves. Bad JSON is a form error (shown next to the field) so a
typo never reaches the service and nothing changes.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from yamlgraph_django.models import GraphDefinition


def question_text(value: Any) -> str:
    """The human question of an interrupt value.

    An interrupt's value is the rendered `message` of the node: a string, or a dict such
    as `{question: ..., choices: [...]}`. People want the sentence, not the JSON, so a
    dict's `question`/`message`/`prompt` key is used when present; anything else is shown
    as compact JSON.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("question", "message", "prompt", "text"):
            if isinstance(value.get(key), str):
                return value[key]
    return json.dumps(value, ensure_ascii=False, default=str)


def parse_json(text: str, *, what: str = "value") -> Any:
    """`json.loads` whose failure is a ValidationError saying where the JSON broke."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(
            _("This %(what)s is not valid JSON: %(error)s (line %(line)s, column %(col)s)."),
            code="invalid_json",
            params={"what": what, "error": exc.msg, "line": exc.lineno, "col": exc.colno},
        ) from None


class ResumeForm(forms.Form):
    """One answer per pending interrupt.

    Each answer is text, or JSON when the person ticks "parse as JSON" (so typing `yes`
    sends the string "yes", and ticking the box with `{"approved": true}` sends a dict).
    The ids of the interrupts the form was drawn for travel in a hidden field, so that an
    answer written for a question that has since been answered elsewhere is refused
    instead of being applied to the next question.
    """

    interrupt_ids = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, interrupts: list[dict[str, Any]], **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("interrupt_ids", json.dumps([i.get("id") for i in interrupts]))
        super().__init__(*args, **kwargs)
        self.interrupts = interrupts
        for index, interrupt in enumerate(interrupts):
            value = interrupt.get("value")
            help_text = ""
            if not isinstance(value, str):
                help_text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
            self.fields[f"answer_{index}"] = forms.CharField(
                label=question_text(value),
                help_text=help_text,
                strip=False,
                widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
            )
            self.fields[f"as_json_{index}"] = forms.BooleanField(
                label=_("Parse the answer as JSON"),
                required=False,
                help_text=_('Send 42, true, ["a"] or {"k": "v"} as that value, not as text.'),
            )

    def answer_fields(self) -> list[tuple[dict[str, Any], forms.BoundField, forms.BoundField]]:
        """(interrupt, answer field, JSON checkbox) per interrupt, for the template."""
        return [
            (interrupt, self[f"answer_{index}"], self[f"as_json_{index}"])
            for index, interrupt in enumerate(self.interrupts)
        ]

    def clean_interrupt_ids(self) -> list[Any]:
        try:
            ids = json.loads(self.cleaned_data["interrupt_ids"])
        except (TypeError, json.JSONDecodeError):
            raise forms.ValidationError(_("The form was damaged; open it again.")) from None
        if ids != [i.get("id") for i in self.interrupts]:
            raise forms.ValidationError(
                _(
                    "The session has moved on since this form was opened: these are its "
                    "questions now. Nothing was changed."
                ),
                code="stale",
            )
        return ids

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for index in range(len(self.interrupts)):
            name = f"answer_{index}"
            if name not in cleaned:
                continue
            if cleaned.get(f"as_json_{index}"):
                try:
                    cleaned[name] = parse_json(cleaned[name], what=str(_("answer")))
                except forms.ValidationError as error:
                    self.add_error(name, error)
        return cleaned

    def answers(self) -> dict[str, Any]:
        """Interrupt id -> value, for `resume_session(values=...)`."""
        return {
            interrupt.get("id"): self.cleaned_data[f"answer_{index}"]
            for index, interrupt in enumerate(self.interrupts)
        }


class StartSessionForm(forms.Form):
    """Start a session of the latest version of a graph, with its input as a JSON object."""

    graph = forms.ChoiceField(label=_("Graph"))
    input = forms.CharField(
        label=_("Input"),
        initial="{}",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 60, "class": "vLargeTextField"}),
        help_text=_('A JSON object of state values, e.g. {"topic": "billing"}. Empty means {}.'),
    )
    metadata = forms.CharField(
        label=_("Metadata"),
        initial="{}",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("A JSON object stored on the session (searchable in the list)."),
    )
    thread_id = forms.CharField(
        label=_("Thread id"),
        required=False,
        max_length=255,
        help_text=_("Leave empty to generate one."),
    )

    def __init__(self, *args: Any, graphs: list[GraphDefinition], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["graph"].choices = [
            (
                graph.name,
                f"{graph.name} (v{graph.version})"
                + (f" - {graph.description}" if graph.description else ""),
            )
            for graph in graphs
        ]

    def _json_object(self, name: str) -> dict[str, Any]:
        text = self.cleaned_data.get(name) or ""
        if not text.strip():
            return {}
        value = parse_json(text, what=name)
        if not isinstance(value, dict):
            raise forms.ValidationError(
                _("The %(what)s must be a JSON object ({...}), not %(kind)s."),
                code="not_an_object",
                params={"what": name, "kind": type(value).__name__},
            )
        return value

    def clean_input(self) -> dict[str, Any]:
        return self._json_object("input")

    def clean_metadata(self) -> dict[str, Any]:
        return self._json_object("metadata")

    def clean_thread_id(self) -> str | None:
        return self.cleaned_data.get("thread_id", "").strip() or None
