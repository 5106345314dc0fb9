"""Sessions in the admin: a constant-query list, a read-only detail page, and buttons.

Read-only like django-celery-results: no generic add/change forms, because a session's
fields are the record of what the graph did and may only change through the session
service. People act through the buttons (Resume, Cancel, Delete with checkpoints, Start
session; see `views.py`) and the bulk actions (see `actions.py`), which all call the
service with channel "admin" so every change is recorded as a Run with its actor.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

from django.contrib import admin
from django.contrib.admin import DateFieldListFilter
from django.contrib.admin.views.main import ChangeList
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from yamlgraph.answers import question_as_text
from yamlgraph_django import registry, services
from yamlgraph_django.admin.actions import SessionActionsMixin
from yamlgraph_django.admin.diagram import graph_svg, legend
from yamlgraph_django.admin.display import (
    EMPTY,
    duration,
    pre,
    pretty_json,
    short_question,
    status_badge,
    table,
    when,
)
from yamlgraph_django.admin.views import SessionViewsMixin, live_stream_url
from yamlgraph_django.exceptions import YamlgraphError
from yamlgraph_django.forms import question_text, schema_of
from yamlgraph_django.models import GraphDefinition, Run, RunKind, Session, SessionStatus
from yamlgraph_django.services import questions, rules


class GraphNameFilter(admin.SimpleListFilter):
    """Filter by graph name across its versions (what people mean by "the interview graph").

    One query for the choices whatever the page size. A single version is reachable with
    `?graph__id__exact=<pk>`, which the graph page links to.
    """

    title = _("graph")
    parameter_name = "graph"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = GraphDefinition.objects.order_by("name").values_list("name", flat=True).distinct()
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(graph__name=self.value())
        return queryset


class RunCountChangeList(ChangeList):
    """The sessions list, with the run count of the rows shown counted in one query
    (never for rows skipped by the page offset)."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        rows = list(self.result_list)
        counts = dict(
            Run.objects.filter(session__in=[row.pk for row in rows])
            .order_by()
            .values_list("session")
            .annotate(count=Count("pk"))
        )
        for row in rows:
            row.run_count_on_page = counts.get(row.pk, 0)
        self.result_list = rows


class SessionAdmin(SessionViewsMixin, SessionActionsMixin, admin.ModelAdmin):
    """The list and detail pages of sessions."""

    change_list_template = "admin/yamlgraph_django/session/change_list.html"
    change_form_template = "admin/yamlgraph_django/session/change_form.html"
    delete_confirmation_template = "admin/yamlgraph_django/session/delete_confirmation.html"

    list_display = (
        "session_id",
        "status_badge",
        "graph_version",
        "owner",
        "pending_question",
        "updated",
        "run_count",
    )
    list_display_links = ("session_id",)
    list_filter = (
        "status",
        GraphNameFilter,
        ("created_at", DateFieldListFilter),
        ("updated_at", DateFieldListFilter),
        ("finished_at", DateFieldListFilter),
    )
    search_fields = ("id", "thread_id", "owner__username", "metadata")
    search_help_text = _(
        "Search by session id, thread id or owner username (exact), or metadata as key=value."
    )
    list_select_related = ("graph", "owner")
    list_per_page = 25  # a page renders in ~25 ms; 100 rows took ~120 ms (bench/scale.py)
    show_full_result_count = False  # one COUNT(*) less per page on big tables
    ordering = ("-created_at",)

    readonly_fields = (
        "id",
        "thread_id",
        "graph_version",
        "owner",
        "status_badge",
        "created",
        "updated",
        "finished",
        "run_time",
        "expires",
        "lease_expires",
        "picture",
        "pending_interrupts",
        "who_answers",
        "error_text",
        "state_values",
        "next_nodes",
        "input_json",
        "output_json",
        "metadata_json",
        "checkpoint_history",
        "runs_table",
    )

    # -- permissions: read-only, acting only through buttons and actions ---------------------

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Never through the generic form: that would bypass the service and the Run log."""
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Viewers, and an assignee on the session they must answer (linked from the
        inbox), without a model permission of their own."""
        if super().has_view_permission(request, obj):
            return True
        return obj is not None and self._waits_for(request, obj)

    def _waits_for(self, request: HttpRequest, obj: Any) -> bool:
        """Has `obj` an open question waiting for this user?"""
        return questions.waits_for(request.user, obj)

    def _has_model_perm(self, request: HttpRequest, action: str) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.{action}_{self.opts.model_name}")

    def has_cancel_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Cancelling changes a session: the model's change permission, or on one session
        what the rulebook says (services.rules: its owner may, as on every door)."""
        if obj is not None:
            return rules.allowed(request.user, rules.Action.CANCEL, obj)
        return self._has_model_perm(request, "change")

    def has_recover_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._has_model_perm(request, "change")

    def has_resume_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Answering is its own permission: support staff may read sessions without it.
        On one session the rulebook decides (services.rules), as on every door."""
        if obj is not None:
            return rules.allowed(request.user, rules.Action.ANSWER, obj)
        return request.user.has_perm(f"{self.opts.app_label}.resume_session")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """The model's delete permission; on one session the rulebook decides."""
        if obj is not None:
            return rules.allowed(request.user, rules.Action.DELETE, obj)
        return super().has_delete_permission(request, obj)

    def has_start_permission(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request)

    # -- queries -------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Sessions the user may see, with their graph and owner in the same query
        (LangGraph threads that have not run yet have no graph and are left out)."""
        queryset = (
            super()
            .get_queryset(request)
            .select_related("graph", "owner")
            .filter(graph__isnull=False)
        )
        return rules.visible_sessions(request.user, queryset, listing=True)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return RunCountChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Exact matches only, each on an indexed column, so a search costs the same on
        a hundred sessions and on millions: a session id, a thread id, an owner's
        username, or `key=value` in the metadata (as `?metadata__key=` in the API)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(thread_id=term) | Q(owner__username=term)
        with contextlib.suppress(ValueError):
            condition |= Q(pk=uuid.UUID(term))
        key, equals, value = term.partition("=")
        if equals and key.strip():
            matching = Session.objects.metadata_matches(key.strip(), [value.strip()])
            condition |= Q(pk__in=matching.values("pk"))
        return queryset.filter(condition), False

    # -- list columns ----------------------------------------------------------------------

    @admin.display(description=_("session"), ordering="created_at")
    def session_id(self, obj: Session) -> str:
        return str(obj.pk)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: Session) -> SafeString:
        return status_badge(obj.status)

    @admin.display(description=_("graph"), ordering="graph__name")
    def graph_version(self, obj: Session) -> SafeString:
        url = reverse("admin:yamlgraph_django_graphdefinition_change", args=[obj.graph_id])
        return format_html('<a href="{}">{}</a>', url, obj.graph)

    @admin.display(description=_("waiting for"))
    def pending_question(self, obj: Session) -> str:
        if obj.status != SessionStatus.INTERRUPTED:
            return ""
        return short_question(obj.interrupts)

    @admin.display(description=_("updated"), ordering="updated_at")
    def updated(self, obj: Session) -> str:
        return when(obj.updated_at)

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, obj: Session) -> str:
        return when(obj.created_at)

    @admin.display(description=_("finished"))
    def finished(self, obj: Session) -> str:
        return when(obj.finished_at) or "-"

    @admin.display(description=_("run time"))
    def run_time(self, obj: Session) -> str:
        """From start to end, or to now while it is not finished."""
        if obj.finished_at is not None:
            return duration(obj.created_at, obj.finished_at)
        return _("%s so far") % duration(obj.created_at, timezone.now())

    @admin.display(description=_("expires"))
    def expires(self, obj: Session) -> str:
        return when(obj.expires_at) or "-"

    @admin.display(description=_("lease expires"))
    def lease_expires(self, obj: Session) -> str:
        return when(obj.lease_expires_at) or "-"

    @admin.display(description=_("runs"))
    def run_count(self, obj: Session) -> int:
        count = getattr(obj, "run_count_on_page", None)
        return obj.runs.count() if count is None else count

    # -- detail page -----------------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: Session | None = None) -> list:
        fieldsets: list = [
            (
                None,
                {
                    "fields": (
                        ("id", "status_badge"),
                        "thread_id",
                        "graph_version",
                        "owner",
                        ("created", "updated"),
                        ("finished", "run_time"),
                        ("expires", "lease_expires"),
                    )
                },
            ),
            (_("Where it is"), {"fields": ("picture",)}),
        ]
        if obj is not None and obj.status == SessionStatus.INTERRUPTED and obj.interrupts:
            fieldsets.append(
                (_("Waiting for an answer"), {"fields": ("pending_interrupts", "who_answers")})
            )
        if obj is not None and obj.error:
            fieldsets.append((_("Error"), {"fields": ("error_text",)}))
        fieldsets += [
            (_("Current state"), {"fields": ("state_values", "next_nodes")}),
            (
                _("Input, output and metadata"),
                {"fields": ("input_json", "output_json", "metadata_json")},
            ),
            (_("Checkpoint history"), {"fields": ("checkpoint_history",)}),
            (_("Runs"), {"fields": ("runs_table",)}),
        ]
        return fieldsets

    def _state(self, obj: Session) -> dict[str, Any] | YamlgraphError | Exception:
        """`get_state` once per page (the instance is shared by all fields of the page).

        A store that is down, or a graph that no longer loads, shows as a message in
        the field instead of an error page: the metadata is still worth reading.
        """
        if not hasattr(obj, "_admin_state"):
            try:
                obj._admin_state = services.get_state(obj)
            except Exception as exc:  # shown on the page; the rest of it still renders
                obj._admin_state = exc
        return obj._admin_state

    @staticmethod
    def _unavailable(exc: Exception) -> SafeString:
        detail = exc.detail if isinstance(exc, YamlgraphError) else f"{type(exc).__name__}: {exc}"
        return format_html('<p class="errornote" style="margin:0">{}</p>', detail)

    @admin.display(description=_("graph"))
    def picture(self, obj: Session) -> SafeString:
        """The graph with the node the session waits at, failed at, or ended at marked."""
        try:
            config = registry.config_for(obj.graph)
        except Exception as exc:  # a version that no longer loads: the rest still renders
            return self._unavailable(exc)
        state = self._state(obj)
        current = [] if isinstance(state, Exception) else list(state.get("next") or ())
        if obj.status == SessionStatus.COMPLETED:
            current, mode = ["END"], "done"
        elif obj.status == SessionStatus.FAILED:
            mode = "failed"
        elif obj.status in (SessionStatus.PENDING, SessionStatus.RUNNING):
            mode = "running"
        else:
            mode = "waiting"
        stream = live_stream_url(obj)
        picture = format_html(
            '<div class="yamlgraph-picture" data-session="{}" data-status="{}"{}>{}{}</div>',
            obj.pk,
            obj.status,
            format_html(' data-stream="{}"', stream) if stream else "",
            graph_svg(config, current, state=mode),
            legend(),
        )
        if not stream:
            return picture
        # Shown by session_live.js once it follows the stream (never without JavaScript).
        return format_html(
            '{}<div class="yamlgraph-live" hidden><h3>{}</h3>'
            '<p class="yamlgraph-live-status quiet"></p><ol class="yamlgraph-live-steps"></ol>'
            "</div>",
            picture,
            _("Live steps"),
        )

    @admin.display(description=_("pending interrupts"))
    def pending_interrupts(self, obj: Session) -> SafeString:
        """Each question as text: its sentence, its other facts, the answers it takes."""
        parts = []
        for interrupt in obj.interrupts or []:
            if not isinstance(interrupt, dict):
                interrupt = {"value": interrupt}
            value = interrupt.get("value")
            # The sentence, then "  key: value" facts and "  1) choice" lines.
            details = question_as_text(value, schema_of(interrupt)).splitlines()[1:]
            parts.append(
                format_html(
                    '<div style="margin-bottom:10px"><p class="yamlgraph-question" '
                    'style="white-space:pre-wrap;font-weight:600;margin:0 0 4px 0">{}</p>'
                    '<pre style="margin:0;white-space:pre-wrap">{}</pre>'
                    '<p class="quiet" style="margin:4px 0 0 0">id {}</p></div>',
                    question_text(value),
                    "\n".join(line.strip() for line in details),
                    interrupt.get("id", ""),
                )
            )
        return mark_safe("".join(parts)) if parts else EMPTY  # each part built by format_html

    @admin.display(description=_("who must answer"))
    def who_answers(self, obj: Session) -> SafeString | str:
        """Each open question's assignees, who claimed it, and by when it is due."""
        rows = (
            obj.questions.filter(status="open")
            .select_related("claimed_by", "permission")
            .prefetch_related("users", "groups")
        )
        parts = []
        for question in rows:
            if question.assigned:
                who = questions.describe_assignees(question)
                if question.exclude_owner:
                    who += _(" (not the owner)")
            else:
                who = _("anyone who may answer this session")
            parts.append(
                format_html(
                    '<p class="yamlgraph-assignees" data-question="{}">{}: {}{}{}</p>',
                    question.pk,
                    question.node or question.interrupt_id,
                    who,
                    format_html(_("; claimed by {}"), question.claimed_by)
                    if question.claimed_by_id
                    else "",
                    format_html(
                        _("; due {}{}"),
                        question.due_at,
                        _(" (overdue)") if question.is_overdue else "",
                    )
                    if question.due_at
                    else "",
                )
            )
        return mark_safe("".join(parts)) if parts else "-"  # each part built by format_html

    @admin.display(description=_("error"))
    def error_text(self, obj: Session) -> SafeString:
        return pre(obj.error) if obj.error else EMPTY

    @admin.display(description=_("values"))
    def state_values(self, obj: Session) -> SafeString:
        state = self._state(obj)
        if isinstance(state, Exception):
            return self._unavailable(state)
        return pretty_json(state.get("values") or {})

    @admin.display(description=_("next"))
    def next_nodes(self, obj: Session) -> str:
        state = self._state(obj)
        if isinstance(state, Exception):
            return ""
        return ", ".join(str(node) for node in state.get("next") or ()) or "-"

    @admin.display(description=_("input"))
    def input_json(self, obj: Session) -> SafeString:
        return pretty_json(obj.input)

    @admin.display(description=_("output"))
    def output_json(self, obj: Session) -> SafeString:
        return pretty_json(obj.output) if obj.output is not None else EMPTY

    @admin.display(description=_("metadata"))
    def metadata_json(self, obj: Session) -> SafeString:
        return pretty_json(obj.metadata)

    @admin.display(description=_("checkpoints (newest first)"))
    def checkpoint_history(self, obj: Session) -> SafeString:
        history = self._history(obj)
        if isinstance(history, Exception):
            return self._unavailable(history)
        if not history:
            return EMPTY
        rows = []
        for item in history:
            wrote = item.get("nodes", item.get("node"))
            if isinstance(wrote, list | tuple):
                wrote = ", ".join(str(n) for n in wrote)
            nxt = item.get("next") or ()
            rows.append(
                (
                    item.get("checkpoint_id", ""),
                    item.get("step", ""),
                    item.get("source", ""),
                    wrote or "",
                    ", ".join(str(n) for n in nxt) if isinstance(nxt, list | tuple) else nxt,
                    when(item.get("created_at")),
                )
            )
        return table(
            [_("checkpoint"), _("step"), _("source"), _("written by"), _("next"), _("time")],
            rows,
        )

    @admin.display(description=_("runs"))
    def runs_table(self, obj: Session) -> SafeString:
        runs = list(obj.runs.select_related("actor").order_by("started_at", "pk"))
        if not runs:
            return EMPTY
        questions = self._questions(obj)
        rows = [
            (
                when(run.started_at),
                run.get_kind_display(),
                str(run.actor) if run.actor_id else "-",
                run.get_channel_display(),
                self._run_value(run, questions),
                run.get_status_display(),
                when(run.finished_at),
                duration(run.started_at, run.finished_at),
                run.error,
            )
            for run in runs
        ]
        return table(
            [
                _("started"),
                _("kind"),
                _("by"),
                _("channel"),
                _("value"),
                _("outcome"),
                _("finished"),
                _("took"),
                _("error"),
            ],
            rows,
        )

    def _questions(self, obj: Session) -> dict[str, str]:
        """Interrupt id -> its question, from the checkpoints (and the pending ones)."""
        found: dict[str, str] = {}
        history = self._history(obj)
        for item in history if not isinstance(history, Exception) else []:
            for interrupt in item.get("interrupts") or ():
                found.setdefault(interrupt["id"], question_text(interrupt["value"]))
        for interrupt in obj.interrupts or ():
            if isinstance(interrupt, dict):
                found.setdefault(interrupt.get("id"), question_text(interrupt.get("value")))
        return found

    @staticmethod
    def _run_value(run: Run, questions: dict[str, str]) -> SafeString | str:
        """An answer with its question; an answer map as one line per question."""
        if run.value is None:
            return ""
        if (
            run.kind == RunKind.RESUME
            and isinstance(run.value, dict)
            and run.value.keys() <= set(questions)
        ):
            return format_html_join(
                "",
                '<div class="yamlgraph-answer"><span class="quiet">{}</span> &rarr; <strong>{}</strong></div>',
                (
                    (questions[key], answer if isinstance(answer, str) else json.dumps(answer))
                    for key, answer in run.value.items()
                ),
            )
        return pretty_json(run.value)

    def _history(self, obj: Session) -> list[dict[str, Any]] | Exception:
        """`get_history` once per page, shared by the history and the runs."""
        if not hasattr(obj, "_admin_history"):
            try:
                obj._admin_history = services.get_history(obj, limit=50)
            except Exception as exc:  # shown on the page; the rest of it still renders
                obj._admin_history = exc
        return obj._admin_history
