"""Who may call the API, and which sessions each caller can reach.

Access to a session is decided by narrowing the queryset, never by a permission check
on the object: a session the caller may not see simply does not exist for them, so it
answers 404 exactly like an unknown id and nobody can probe which ids are in use.

Authentication defaults to token then session auth (token first so an unauthenticated
call gets 401 with `WWW-Authenticate: Token`, which scripts understand, instead of
session auth's bare 403). A project that sets REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
gets exactly its own classes instead.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.settings import api_settings

from yamlgraph_django.api.authentication import CachedTokenAuthentication
from yamlgraph_django.conf import app_settings
from yamlgraph_django.exceptions import SessionNotFound
from yamlgraph_django.models import Session
from yamlgraph_django.services import rules


def authenticators() -> list[BaseAuthentication]:
    """The project's DRF authentication classes if it chose some, else token (cached per
    process, api.authentication) + session."""
    project = getattr(settings, "REST_FRAMEWORK", None) or {}
    if "DEFAULT_AUTHENTICATION_CLASSES" in project:
        return [cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    classes: list[type[BaseAuthentication]] = []
    if apps.is_installed("rest_framework.authtoken"):
        classes.append(CachedTokenAuthentication)
    classes.append(SessionAuthentication)
    return [cls() for cls in classes]


def permissions() -> list[BasePermission]:
    """Authenticated callers only, unless YAMLGRAPH["ALLOW_ANONYMOUS"] opens the API."""
    return [AllowAny()] if app_settings.ALLOW_ANONYMOUS else [IsAuthenticated()]


def visible_sessions(user: Any, queryset: QuerySet[Session], *, listing: bool) -> QuerySet[Session]:
    """The sessions `user` may see, as the rulebook decides (services.rules: by default
    YAMLGRAPH["SESSION_ACCESS"]); what they may do with each, the service decides.

    With ALLOW_ANONYMOUS, an anonymous caller additionally reaches sessions that have no
    owner by their id (the random UUID works as a capability, like an unlisted link),
    but never lists them: the list would show every anonymous caller's sessions to all.
    A session with an open question waiting for `user` is visible too (the rulebook's
    assignment rule: an assignee reads the session they must answer).
    """
    return rules.visible_sessions(user, queryset, listing=listing)


def one_session(user: Any, session_id: Any) -> Session:
    """The session `session_id` if `user` may see it, in one query with what the
    answer shows (its graph and owner); SessionNotFound (404) otherwise, a malformed id
    included. For detail routes: no list queryset, no filters, the rulebook's object
    check instead (no query for the owner or, with the default access rule, staff)."""
    try:
        session = Session.objects.select_related("graph", "owner").get(
            pk=session_id,
            graph__isnull=False,  # LangGraph threads that have not run yet
        )
    except (Session.DoesNotExist, ValidationError, ValueError):
        raise SessionNotFound() from None
    rules.authorize_view(user, session)
    return session
