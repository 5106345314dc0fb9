"""Filters of the session list: `status`, `graph`, `created_after`, `created_before` and
`metadata__KEY=VALUE` for any metadata key.

Metadata is a flat object of strings, numbers and booleans, but a query string only
carries text, so `?metadata__priority=2` matches the number 2 *or* the string "2", and
`?metadata__urgent=true` matches `true` or "true": the caller does not need to know how
the value was stored. The key is everything after the first `metadata__` and is passed
to the database as one JSON key (never parsed as Django lookups), so a key such as
`contains` or `a__b` is just a key, not a way to run arbitrary lookups.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.db.models.fields.json import KeyTransform
from django.db.models.lookups import Exact

from yamlgraph_django.models import Session, SessionStatus

METADATA_PREFIX = "metadata__"


def metadata_candidates(text: str) -> list[Any]:
    """The JSON values a query-string value may stand for, the text itself first."""
    candidates: list[Any] = [text]
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        candidates.append(lowered == "true")
    try:
        number = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            number = None
    if number is not None and number == number and abs(number) != float("inf"):
        candidates.append(number)
    return candidates


def metadata_condition(key: str, text: str) -> Q:
    """A Q matching sessions whose metadata[key] equals any reading of `text`."""
    condition = Q()
    for candidate in metadata_candidates(text):
        condition |= Q(Exact(KeyTransform(key, "metadata"), candidate))
    return condition


class SessionFilter(django_filters.FilterSet):
    """Query-string filters of GET /api/sessions/ (see the module docstring)."""

    status = django_filters.ChoiceFilter(
        choices=SessionStatus.choices, help_text="Only sessions in this status."
    )
    graph = django_filters.CharFilter(
        field_name="graph__name", help_text="Only sessions of the graph with this name."
    )
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        help_text="Only sessions created at or after this ISO 8601 date-time.",
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="lt",
        help_text="Only sessions created before this ISO 8601 date-time.",
    )

    class Meta:
        model = Session
        fields = ["status", "graph", "created_after", "created_before"]

    def filter_queryset(self, queryset: QuerySet[Session]) -> QuerySet[Session]:
        queryset = super().filter_queryset(queryset)
        for param in sorted(self.data.keys()):
            key = param[len(METADATA_PREFIX) :]
            if not param.startswith(METADATA_PREFIX) or not key:
                continue
            getlist = getattr(self.data, "getlist", None)
            for text in getlist(param) if getlist else [self.data[param]]:
                queryset = queryset.filter(metadata_condition(key, text))
        return queryset
