"""Forms of the admin's custom pages: answer pending interrupts and start a session.

They only turn what a person typed into the values the session service takes; they
never run a graph themselves. Bad JSON is a form error (shown next to the field) so a
typo never reaches the service and nothing changes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

from yamlgraph.answers import answer_errors, input_schema, question_sentence, response_schema
from yamlgraph_django.models import GraphDefinition

if TYPE_CHECKING:
    from yamlgraph.config import GraphConfig


def question_text(value: Any) -> str:
    """The human question of an interrupt value: a string, or a dict's `question`
    (`message`, `prompt`, `text`) key; anything else as compact JSON."""
    return question_sentence(value)


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
        self.schemas = [schema_of(interrupt) for interrupt in interrupts]
        for index, (interrupt, schema) in enumerate(zip(interrupts, self.schemas, strict=True)):
            value = interrupt.get("value")
            help_text = ""
            if isinstance(value, dict):
                help_text = "\n".join(
                    f"{key}: {item if isinstance(item, str) else json.dumps(item)}"
                    for key, item in value.items()
                    if key not in ("question", "message", "prompt", "text", "choices")
                )
            elif not isinstance(value, str):
                help_text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
            if "review" in schema:  # Approve / Edit / Reject buttons
                self._add_review_fields(index, schema["review"], value)
                continue
            self.fields[f"answer_{index}"] = answer_field(schema, question_text(value), help_text)
            if free_json(schema):
                self.fields[f"as_json_{index}"] = forms.BooleanField(
                    label=_("Parse the answer as JSON"),
                    required=False,
                    help_text=_('Send 42, true, ["a"] or {"k": "v"} as that value, not as text.'),
                )

    def _add_review_fields(self, index: int, review: dict[str, Any], value: Any) -> None:
        """A review question: its decision (a button each), the arguments to edit and a
        message for a rejection, as far as the question allows them."""
        allowed = [d for d in review.get("allowed") or () if d in REVIEW_LABELS]
        request = (value.get("action_requests") or [{}])[0] if isinstance(value, dict) else {}
        description = request.get("description") or review.get("action") or ""
        self.fields[f"answer_{index}"] = forms.ChoiceField(
            label=str(description),
            choices=[(decision, REVIEW_LABELS[decision]) for decision in allowed],
            help_text=_("Action: %(action)s") % {"action": review.get("action")},
        )
        if "edit" in allowed:
            self.fields[f"args_{index}"] = forms.CharField(
                label=_("Arguments (JSON, for Edit)"),
                required=False,
                strip=False,
                initial=json.dumps(review.get("args"), indent=2, ensure_ascii=False),
                widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
            )
        if "reject" in allowed:
            self.fields[f"message_{index}"] = forms.CharField(
                label=_("Message (for Reject)"), required=False
            )

    def answer_fields(self) -> list[dict[str, Any]]:
        """Per interrupt, for the template: the interrupt, its answer field, its JSON
        checkbox (None when the answer is typed), and its choices (buttons) if any."""
        return [
            {
                "interrupt": interrupt,
                "answer": self[f"answer_{index}"],
                "as_json": self[f"as_json_{index}"] if f"as_json_{index}" in self.fields else None,
                "choices": [
                    (str(key), label) for key, label in self.fields[f"answer_{index}"].choices
                ]
                if isinstance(self.fields[f"answer_{index}"], forms.ChoiceField)
                else [],
                "review": self.schemas[index].get("review"),
                "args": self[f"args_{index}"] if f"args_{index}" in self.fields else None,
                "message": self[f"message_{index}"] if f"message_{index}" in self.fields else None,
            }
            for index, interrupt in enumerate(self.interrupts)
        ]

    @property
    def single_choice(self) -> bool:
        """One question with choices: each choice is a button that answers it."""
        return len(self.interrupts) == 1 and (
            "enum" in self.schemas[0] or "review" in self.schemas[0]
        )

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
        for index, schema in enumerate(self.schemas):
            name = f"answer_{index}"
            if name not in cleaned:
                continue
            if "review" in schema:
                cleaned[name] = self._decision(index, schema["review"], cleaned)
                if cleaned[name] is None:
                    continue
            elif cleaned.get(f"as_json_{index}"):
                try:
                    cleaned[name] = parse_json(cleaned[name], what=str(_("answer")))
                except forms.ValidationError as error:
                    self.add_error(name, error)
                    continue
            for problem in answer_errors(schema, cleaned[name]):
                self.add_error(name, problem)
        return cleaned

    def _decision(
        self, index: int, review: dict[str, Any], cleaned: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The pressed button as the answer in LangChain's HITL shape ({"decisions": [...]})."""
        kind = cleaned[f"answer_{index}"]
        decision: dict[str, Any] = {"type": kind}
        if kind == "edit":
            try:
                args = parse_json(cleaned.get(f"args_{index}") or "", what=str(_("arguments")))
            except forms.ValidationError as error:
                self.add_error(f"args_{index}", error)
                return None
            decision["edited_action"] = {"name": review.get("action"), "args": args}
        elif kind == "reject" and cleaned.get(f"message_{index}"):
            decision["message"] = cleaned[f"message_{index}"]
        return {"decisions": [decision]}

    def answers(self) -> dict[str, Any]:
        """Interrupt id -> value, for `resume_session(values=...)`."""
        return {
            interrupt.get("id"): self.cleaned_data[f"answer_{index}"]
            for index, interrupt in enumerate(self.interrupts)
        }


#: The buttons of a review question.
REVIEW_LABELS = {"approve": _("Approve"), "edit": _("Edit"), "reject": _("Reject")}


def schema_of(interrupt: dict[str, Any]) -> dict[str, Any]:
    """The stored response schema of a pending interrupt (rows written before schemas
    were stored: the one its question implies)."""
    schema = interrupt.get("response_schema")
    return schema if isinstance(schema, dict) else response_schema(None, interrupt.get("value"))


def free_json(schema: dict[str, Any]) -> bool:
    """May the answer be any JSON value (so the person can tick "parse as JSON")?"""
    return "enum" not in schema and schema.get("type", "any") in ("any", "object", "array")


def answer_field(schema: dict[str, Any], label: str, help_text: str) -> forms.Field:
    """The form field for an answer of `schema`: choices, a number, yes/no, or text."""
    required = bool(schema.get("required"))
    common: dict[str, Any] = {"label": label, "help_text": help_text, "required": required}
    if "enum" in schema:
        return forms.TypedChoiceField(
            choices=[(json.dumps(item), str(item)) for item in schema["enum"]],
            coerce=json.loads,
            widget=forms.RadioSelect,
            **common,
        )
    kind = schema.get("type", "any")
    if kind == "integer":
        return forms.IntegerField(**common)
    if kind == "number":
        return forms.FloatField(**common)
    if kind == "boolean":
        return forms.TypedChoiceField(
            choices=[("true", _("Yes")), ("false", _("No"))],
            coerce=json.loads,
            widget=forms.RadioSelect,
            **common,
        )
    rows = 3 if kind in ("string", "any") else 5
    return forms.CharField(
        strip=False, widget=forms.Textarea(attrs={"rows": rows, "cols": 60}), **common
    )


#: Form fields per state field type, for the start form.
STATE_PREFIX = "state_"


def state_field(name: str, prop: dict[str, Any]) -> forms.Field:
    """A start-form field for one declared state field: typed, with its default."""
    required = bool(prop.get("required"))
    kind = prop.get("type", "any")
    default = prop.get("default")
    help_text = _("Required: the graph cannot start without it.") if required else ""
    if "default" in prop:
        help_text = _("Leave empty for the default, %(default)s.") % {
            "default": json.dumps(default, ensure_ascii=False)
        }
    common: dict[str, Any] = {"label": name, "required": required, "help_text": help_text}
    if kind == "integer":
        return forms.IntegerField(initial=default, **common)
    if kind == "number":
        return forms.FloatField(initial=default, **common)
    if kind == "boolean":
        return forms.TypedChoiceField(
            choices=[("", "-"), ("true", _("Yes")), ("false", _("No"))],
            coerce=json.loads,
            empty_value=None,
            initial="" if default is None else json.dumps(default),
            **common,
        )
    if kind == "string":
        return forms.CharField(initial=default, strip=False, **common)
    return JSONValueField(
        initial=None if default is None else json.dumps(default),
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        **{**common, "help_text": f"{help_text} JSON ({kind}).".strip()},
    )


class JSONValueField(forms.CharField):
    """A JSON value typed as text; empty means not given."""

    def clean(self, value: Any) -> Any:
        text = super().clean(value)
        if text in (None, ""):
            return None
        return parse_json(text, what=str(self.label))


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

    def __init__(
        self,
        *args: Any,
        graphs: list[GraphDefinition],
        config: GraphConfig | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.state_names: list[str] = []
        if config is not None:
            self.fields["graph"].widget = forms.HiddenInput()
            self.fields["input"].label = _("Other input")
            self.fields["input"].help_text = _(
                "A JSON object of further state values (the typed fields above win). "
                "Empty means none."
            )
            typed = {}
            for name, prop in input_schema(config)["properties"].items():
                typed[f"{STATE_PREFIX}{name}"] = state_field(name, prop)
                self.state_names.append(name)
            # The graph's fields first, then the JSON box and the rest.
            self.fields = {"graph": self.fields.pop("graph"), **typed, **self.fields}
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

    def start_input(self) -> dict[str, Any]:
        """The input to start with: the JSON box, then each typed field that was filled in
        (an empty one is left out, so the graph's default applies)."""
        data = dict(self.cleaned_data.get("input") or {})
        for name in self.state_names:
            value = self.cleaned_data.get(f"{STATE_PREFIX}{name}")
            if value is not None and value != "":
                data[name] = value
        return data

    def add_input_error(self, key: str, message: str) -> None:
        """A service error about state field `key`, next to its field if it has one."""
        if f"{STATE_PREFIX}{key}" in self.fields:
            self.add_error(f"{STATE_PREFIX}{key}", message)
        else:
            self.add_error("input", f"{key}: {message}")

    def clean_metadata(self) -> dict[str, Any]:
        return self._json_object("metadata")

    def clean_thread_id(self) -> str | None:
        return self.cleaned_data.get("thread_id", "").strip() or None
