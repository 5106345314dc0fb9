"""Graph versions in the admin: what is registered, what it looks like, and a reload button.

Graphs come from files on disk, so the admin never adds or edits them: the pages are
read-only and "Reload graphs from disk" runs the same sync as `manage.py yamlgraph sync`
and says what changed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.defaultfilters import linebreaksbr
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from yamlgraph.mermaid import to_mermaid
from yamlgraph_django import registry
from yamlgraph_django.admin.diagram import graph_svg, legend
from yamlgraph_django.admin.display import EMPTY, duration, pre, table
from yamlgraph_django.models import GraphDefinition
from yamlgraph_django.services import inbox


class VersionFilter(admin.SimpleListFilter):
    """Latest versions by default (what people look for); all versions one click away."""

    title = _("versions")
    parameter_name = "versions"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("all", _("All versions"))]

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("Latest only"),
        }
        yield {
            "selected": self.value() == "all",
            "query_string": changelist.get_query_string({self.parameter_name: "all"}),
            "display": _("All versions"),
        }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "all":
            return queryset
        return queryset.filter(is_latest=True)


class GraphDefinitionAdmin(admin.ModelAdmin):
    """Read-only pages for registered graph versions."""

    change_list_template = "admin/yamlgraph_django/graphdefinition/change_list.html"
    change_form_template = "admin/yamlgraph_django/graphdefinition/change_form.html"
    list_display = (
        "name",
        "version",
        "is_latest",
        "short_description",
        "session_count",
        "registered_at",
    )
    list_display_links = ("name", "version")
    list_filter = (VersionFilter, "registered_at")
    search_fields = ("name", "description", "path")
    ordering = ("name", "-version")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "version",
                    "is_latest",
                    "declared_version",
                    "description",
                    "path",
                    "checksum",
                    "registered_at",
                    "session_count",
                    "other_versions",
                )
            },
        ),
        (_("Picture"), {"fields": ("picture",)}),
        (_("Nodes and edges"), {"fields": ("nodes_table", "edges_table")}),
        (_("Questions"), {"fields": ("question_stats",)}),
        (_("Mermaid"), {"classes": ("collapse",), "fields": ("mermaid",)}),
        (_("YAML source"), {"fields": ("yaml_source",)}),
    )
    readonly_fields = tuple(flatten_fieldsets(fieldsets))  # every field shown is read-only

    # -- permissions: graphs come from disk ------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Sessions point at their exact version (PROTECT); versions are history, not clutter.
        return False

    def has_reload_permission(self, request: HttpRequest) -> bool:
        """Reloading registers new versions, so it takes the model's change permission."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    # -- queries -------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_session_count=Count("sessions"))

    # -- columns and fields ----------------------------------------------------------------

    @admin.display(description=_("description"), ordering="description")
    def short_description(self, obj: GraphDefinition) -> str:
        return Truncator(obj.description).chars(90)

    @admin.display(description=_("sessions"), ordering="_session_count")
    def session_count(self, obj: GraphDefinition) -> SafeString | int:
        count = getattr(obj, "_session_count", None)
        if count is None:
            count = obj.sessions.count()
        if not count:
            return 0
        url = reverse("admin:yamlgraph_django_session_changelist")
        return format_html('<a href="{}?graph__id__exact={}">{}</a>', url, obj.pk, count)

    @admin.display(description=_("versions"))
    def other_versions(self, obj: GraphDefinition) -> SafeString:
        versions = GraphDefinition.objects.filter(name=obj.name).order_by("-version")
        return format_html_join(
            ", ",
            '<a href="{}"{}>v{}{}</a>',
            (
                (
                    reverse("admin:yamlgraph_django_graphdefinition_change", args=[v.pk]),
                    mark_safe(' style="font-weight:bold"') if v.pk == obj.pk else "",
                    v.version,
                    _(" (latest)") if v.is_latest else "",
                )
                for v in versions
            ),
        )

    def _config(self, obj: GraphDefinition) -> Any:
        """The parsed config, or the reason it does not parse any more (tool file gone...)."""
        try:
            return registry.config_for(obj)
        except Exception as exc:  # a broken stored version must not break its page
            return exc

    @admin.display(description=_("nodes"))
    def nodes_table(self, obj: GraphDefinition) -> SafeString:
        config = self._config(obj)
        if isinstance(config, Exception):
            return pre(f"This version does not load any more:\n{config}")
        rows = []
        for name, node in config.nodes.items():
            details = "; ".join(
                f"{key}: {value if isinstance(value, str) else json.dumps(value, default=str)}"
                for key, value in node.options.items()
                if key not in ("type", "description")
            )
            rows.append((name, node.type, Truncator(details).chars(160)))
        return table([_("node"), _("type"), _("options")], rows)

    @admin.display(description=_("per interrupt node"))
    def question_stats(self, obj: GraphDefinition) -> SafeString:
        """Open and overdue questions and the time to an answer, per interrupt node."""
        config = self._config(obj)
        if isinstance(config, Exception):
            return EMPTY
        nodes = [name for name, node in config.nodes.items() if node.type == "interrupt"]
        if not nodes:
            return EMPTY
        rows = [
            (
                row["node"],
                row["open"],
                row["overdue"],
                row["answered"],
                seconds_text(row["median_seconds"]),
                seconds_text(row["p95_seconds"]),
            )
            for row in inbox.node_statistics(obj.name, nodes)
        ]
        return table(
            [_("node"), _("open"), _("overdue"), _("answered"), _("median"), _("95th pct")],
            rows,
        )

    @admin.display(description=_("edges"))
    def edges_table(self, obj: GraphDefinition) -> SafeString:
        config = self._config(obj)
        if isinstance(config, Exception):
            return EMPTY
        rows = []
        for edge in config.edges:
            if edge.condition:
                how = f"if {edge.condition}"
            elif edge.conditional:
                how = "routed on state._route"
            else:
                how = ""
            rows.append((", ".join(edge.sources), ", ".join(edge.targets), how))
        return table([_("from"), _("to"), _("condition")], rows)

    @admin.display(description=_("graph"))
    def picture(self, obj: GraphDefinition) -> SafeString:
        config = self._config(obj)
        if isinstance(config, Exception):
            return EMPTY
        return format_html("{}{}", graph_svg(config), legend())

    @admin.display(description=_("Mermaid"))
    def mermaid(self, obj: GraphDefinition) -> SafeString:
        config = self._config(obj)
        if isinstance(config, Exception):
            return EMPTY
        return pre(to_mermaid(config))

    @admin.display(description=_("source"))
    def yaml_source(self, obj: GraphDefinition) -> SafeString:
        return pre(obj.source)

    # -- reload from disk ------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "reload/",
                self.admin_site.admin_view(require_POST(self.reload_view)),
                name="{}_{}_reload".format(*info),
            ),
            *super().get_urls(),
        ]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: GraphDefinition | None = None,
    ) -> Any:
        """Offer "Start a session" on the latest version to those who may start one."""
        if (
            obj is not None
            and obj.is_latest
            and request.user.has_perm("yamlgraph_django.add_session")
        ):
            start = reverse(
                "admin:yamlgraph_django_session_start", current_app=self.admin_site.name
            )
            context["start_url"] = f"{start}?{urlencode({'graph': obj.name})}"
        return super().render_change_form(request, context, add, change, form_url, obj)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        extra_context = {**(extra_context or {}), "can_reload": self.has_reload_permission(request)}
        return super().changelist_view(request, extra_context)

    def reload_view(self, request: HttpRequest) -> HttpResponseRedirect:
        """Sync the graph directories and report what changed, in one message."""
        if not self.has_reload_permission(request):
            raise PermissionDenied
        report = registry.sync_graphs()
        if report.changed or not report.ok:
            headline = _("Reloaded from disk: %s.") % report.summary()
        else:
            headline = ngettext(
                "No changes: %(count)d graph is up to date.",
                "No changes: %(count)d graphs are up to date.",
                len(report.unchanged),
            ) % {"count": len(report.unchanged)}
        unchanged = {entry.describe() for entry in report.unchanged}
        details = [
            line
            for line in report.lines()[:-1]  # the last line is the summary, shown above
            if line not in unchanged
        ]
        if not report.ok:
            level = messages.ERROR
        elif report.missing_dirs:
            level = messages.WARNING
        else:
            level = messages.SUCCESS if report.changed else messages.INFO
        text = format_html(
            "{}{}",
            headline,
            format_html_join("", "<br>{}", ((linebreaksbr(line),) for line in details)),
        )
        self.message_user(request, text, level)
        return HttpResponseRedirect(reverse("admin:yamlgraph_django_graphdefinition_changelist"))


def seconds_text(seconds: float | None) -> str:
    """A number of seconds as people say it ("-" when there is none)."""
    if seconds is None:
        return "-"
    start = dt.datetime(2000, 1, 1)
    return duration(start, start + dt.timedelta(seconds=seconds))
