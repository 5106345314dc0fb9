"""Who may see and act on which sessions; the API, the admin and commands share this."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import Exists, Q, QuerySet


def can_see_all(user: Any) -> bool:
    return bool(
        user
        and user.is_authenticated
        and (user.is_staff or user.has_perm("yamlgraph_django.view_all_sessions"))
    )


def owner_or_staff(user: Any, queryset: QuerySet) -> QuerySet:
    """Staff and holders of `view_all_sessions` see every session; others only their own.

    For a user who is not staff, the permission (given to the user or to one of their
    groups, as Django's ModelBackend reads it) is checked inside the same query, so
    narrowing costs no query of its own.
    """
    if user is None or not user.is_authenticated:
        return queryset.none()
    if user.is_staff or user.is_superuser:
        return queryset
    holders = Permission.objects.filter(
        codename="view_all_sessions", content_type__app_label="yamlgraph_django"
    ).filter(Q(user=user) | Q(group__user=user))
    return queryset.filter(Q(owner=user) | Q(Exists(holders)))
