"""Filters of the session list: `status`, `graph`, `created_after`, `created_before` and
`metadata__KEY=VALUE` for any metadata key.

Metadata is a flat object of strings, numbers and booleans, but a query string only
carries text, so `?metadata__priority=2` matches the number 2 *or* the string "2", and
`?metadata__urgent=true` matches `true` or "true": the caller does not need to know how
the value was stored. The key is everything after the first `metadata__` and is passed
to the database as one JSON key (never parsed as Django lookups), so a key such as
`contains` or `a__b` is just a key, not a way to run arbitrary lookups. Repeating a
parameter (`?metadata__team=web&metadata__team=ops`) matches either value; different
keys must all match.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django_filters.fields import IsoDateTimeField

from yamlgraph_django.models import Session, SessionStatus

METADATA_PREFIX = "metadata__"


class UTCIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, turned into UTC before it reaches the database.

    PostgreSQL refuses UTC offsets beyond +/-15:59 (`...+17:46` is valid ISO 8601), and
    an offset can push year 9999 past the largest datetime: both are a 400, not a 500.
    """

    default_error_messages = {"out_of_range": "Enter a date-time between the years 1 and 9999."}

    def to_python(self, value: Any) -> dt.datetime | None:
        value = super().to_python(value)
        if value is None or timezone.is_naive(value):
            return value
        try:
            return value.astimezone(dt.UTC)
        except OverflowError:
            raise ValidationError(
                self.error_messages["out_of_range"], code="out_of_range"
            ) from None


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class SessionFilter(django_filters.FilterSet):
    """Query-string filters of GET /api/sessions/ (see the module docstring)."""

    status = django_filters.ChoiceFilter(
        choices=SessionStatus.choices, help_text="Only sessions in this status."
    )
    graph = django_filters.CharFilter(
        field_name="graph__name", help_text="Only sessions of the graph with this name."
    )
    created_after = UTCIsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        help_text="Only sessions created at or after this ISO 8601 date-time.",
    )
    created_before = UTCIsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="lt",
        help_text="Only sessions created before this ISO 8601 date-time.",
    )

    class Meta:
        model = Session
        fields = ["status", "graph", "created_after", "created_before"]

    def is_valid(self) -> bool:
        """A filter given with no value (`?status=`) is a 400, not a filter left out."""
        valid = super().is_valid()
        for name in self.filters:
            if name in self.data and self.data.get(name) == "":
                self.form.add_error(name, "Must not be empty; leave the parameter out instead.")
                valid = False
        return valid

    def filter_queryset(self, queryset: QuerySet[Session]) -> QuerySet[Session]:
        queryset = super().filter_queryset(queryset)
        getlist = getattr(self.data, "getlist", None)
        for param in sorted(self.data.keys()):
            key = param[len(METADATA_PREFIX) :]
            if not param.startswith(METADATA_PREFIX) or not key:
                continue
            texts = getlist(param) if getlist else [self.data[param]]
            queryset = queryset.metadata_matches(key, texts)
        return queryset
