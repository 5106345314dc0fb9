"""Who may see and act on which sessions; the API, the admin and commands share this."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet


def can_see_all(user: Any) -> bool:
    return bool(
        user
        and user.is_authenticated
        and (user.is_staff or user.has_perm("yamlgraph_django.view_all_sessions"))
    )


def owner_or_staff(user: Any, queryset: QuerySet) -> QuerySet:
    """Staff and holders of `view_all_sessions` see every session; others only their own."""
    if can_see_all(user):
        return queryset
    if user is None or not user.is_authenticated:
        return queryset.none()
    return queryset.filter(owner=user)
