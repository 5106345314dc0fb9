"""The rulebook: who may do what with sessions, decided once, in the service, for every door.

Doors (admin, API, `/lg/`, commands) pass the person acting (`request.user`, an
`AnonymousUser` when logged out; `None` for the system itself: a command run by the
operator, a background task, trusted Python code) to the service functions, which call
the `authorize_*` function of their action before anything is read from a store or
claimed. So the answer is the same whichever door asks:

- a session the caller may not see is `SessionNotFound` (404), exactly like an unknown id;
- a session the caller sees but may not act on is `NotPermitted` (403);
- an anonymous caller where the project wants a login is `NotAuthenticated` (401).

The actions are `view`, `start`, `answer`, `update_state`, `cancel` and `delete`. The
rules themselves are policy classes, like DRF's `BasePermission`: the setting
`YAMLGRAPH["RULES"]` lists them (dotted paths; all must allow), by default `SessionRules`:

- view: the owner, staff and holders of `view_all_sessions` (`SESSION_ACCESS` decides;
  with `ALLOW_ANONYMOUS`, anyone holding the id of a session without owner);
- start: any authenticated user (anyone with `ALLOW_ANONYMOUS`);
- answer, update_state, cancel, delete: the owner (for a session without owner under
  `ALLOW_ANONYMOUS`, anyone who may view it); anyone else who may view it needs the model
  permission: *Can answer and resume sessions* (`resume_session`) to answer,
  `change_session` to update state or cancel, `delete_session` to delete.
- assignment (`assign:` on an interrupt node, `services.questions`): a question with
  assignees is answered only by them (or holders of `answer_any_question`), not by the
  owner as such, never by an excluded owner, and while claimed only by its claimer; an
  assignee who is not the owner needs no model permission to answer it, and sees the
  session while its question waits for them. Writing the state past an assigned open
  question is answering it: `update_state` needs both the owner rule and this one.
  Which rows apply is decided by `target` (the interrupt ids answered; None: whatever
  is pending). Refusals are `NotAssignee` (403, code `not_assignee`, a NotPermitted).

A project's own policy subclasses `BasePolicy` and answers per action; the question being
answered is passed as `target` (the interrupt ids). A policy may also raise NotPermitted
(or a subclass) itself to say precisely why.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db.models import QuerySet
from django.utils.module_loading import import_string

from yamlgraph_django.conf import SETTING_NAME, app_settings
from yamlgraph_django.exceptions import NotAuthenticated, NotPermitted, SessionNotFound


class Action(enum.StrEnum):
    """What someone may want to do with sessions."""

    VIEW = "view"
    START = "start"
    ANSWER = "answer"
    UPDATE_STATE = "update_state"
    CANCEL = "cancel"
    DELETE = "delete"


#: The Django model permission each action on someone else's session needs.
MODEL_PERMISSIONS: dict[str, str] = {
    Action.ANSWER: "yamlgraph_django.resume_session",
    Action.UPDATE_STATE: "yamlgraph_django.change_session",
    Action.CANCEL: "yamlgraph_django.change_session",
    Action.DELETE: "yamlgraph_django.delete_session",
}

_VERBS = {
    Action.VIEW: "see",
    Action.START: "start",
    Action.ANSWER: "answer",
    Action.UPDATE_STATE: "change the state of",
    Action.CANCEL: "cancel",
    Action.DELETE: "delete",
}


def is_system(user: Any) -> bool:
    """No user at all: the system acting on its own (commands, tasks, Python code)."""
    return user is None


def is_authenticated(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def owns(user: Any, session: Any) -> bool:
    """Does `user` act as the session's owner? Its owner does; under ALLOW_ANONYMOUS a
    session without owner belongs to whoever holds its id (an unlisted link)."""
    if session.owner_id is None:
        return bool(app_settings.ALLOW_ANONYMOUS)
    return is_authenticated(user) and session.owner_id == user.pk


class BasePolicy:
    """One rule of the rulebook, like DRF's BasePermission: every method allows by
    default; a policy overrides the ones it restricts. `message` is the 403's text."""

    message: str | None = None

    def has_permission(self, user: Any, action: str, graph: Any = None) -> bool:
        """May `user` do `action` at all (`start` is asked with the graph)?"""
        return True

    def has_object_permission(
        self, user: Any, action: str, session: Any, target: Sequence[str] | None = None
    ) -> bool:
        """May `user` do `action` on `session` (`view` decides 404 against 403)?
        For `answer`, `target` names the interrupt ids answered (None: those pending)."""
        return True

    def filter_visible(self, user: Any, queryset: QuerySet, *, listing: bool) -> QuerySet:
        """Narrow `queryset` to the sessions `user` may see (`listing`: for a list)."""
        return queryset


class SessionRules(BasePolicy):
    """The app's rules (see the module docstring)."""

    def has_permission(self, user: Any, action: str, graph: Any = None) -> bool:
        if action == Action.START:
            return is_authenticated(user) or bool(app_settings.ALLOW_ANONYMOUS)
        return True

    def filter_visible(self, user: Any, queryset: QuerySet, *, listing: bool) -> QuerySet:
        visible = app_settings.SESSION_ACCESS(user, queryset)
        if not is_authenticated(user) and app_settings.ALLOW_ANONYMOUS and not listing:
            visible = visible | queryset.filter(owner__isnull=True)
        if is_authenticated(user) and not self._sees_all(user):
            # imported here: services.questions needs the models, this module does not
            from yamlgraph_django.services import questions

            # An assignee reads the session they must answer (agent-inbox lists it).
            visible = visible | questions.visible_to_assignee(user, queryset)
        return visible

    def has_object_permission(
        self, user: Any, action: str, session: Any, target: Sequence[str] | None = None
    ) -> bool:
        if action == Action.VIEW:
            return self.can_view(user, session)
        if action in (Action.ANSWER, Action.UPDATE_STATE):
            from yamlgraph_django.services import questions

            # The assignment rule: for an answer it replaces the owner rule below; for a
            # state update (answering by hand) it comes on top of it.
            assigned = questions.assignment_allows(
                user, session, target if action == Action.ANSWER else None
            )
            if assigned is False or (assigned and action == Action.ANSWER):
                return bool(assigned)
        if owns(user, session):
            return True
        permission = MODEL_PERMISSIONS.get(action)
        return permission is None or (is_authenticated(user) and user.has_perm(permission))

    @staticmethod
    def _sees_all(user: Any) -> bool:
        """Staff with the default access rule see every session already (no subquery;
        no permission query either: holders of view_all_sessions get the subquery)."""
        from yamlgraph_django.permissions import owner_or_staff

        return app_settings.SESSION_ACCESS is owner_or_staff and (
            user.is_staff or user.is_superuser
        )

    def can_view(self, user: Any, session: Any) -> bool:
        """The owner without a query; others as SESSION_ACCESS narrows (no query either
        for staff with the default access rule)."""
        if is_authenticated(user) and session.owner_id == user.pk:
            return True
        if session.owner_id is None and not is_authenticated(user):
            return bool(app_settings.ALLOW_ANONYMOUS)
        from yamlgraph_django.permissions import can_see_all, owner_or_staff

        if app_settings.SESSION_ACCESS is owner_or_staff:
            if can_see_all(user):
                return True
            if not is_authenticated(user):
                return False
            from yamlgraph_django.services import questions

            return questions.waits_for(user, session)  # an assignee reads it
        model = type(session)
        return (
            self.filter_visible(user, model.objects.filter(pk=session.pk), listing=False)
            .filter(pk=session.pk)
            .exists()
        )


# --------------------------------------------------------------------------- the setting

_policies: list[BasePolicy] | None = None


def policies() -> list[BasePolicy]:
    """The policy instances YAMLGRAPH["RULES"] names (one dotted path or a list)."""
    global _policies
    if _policies is None:
        _policies = [cls() for cls in policy_classes()]
    return _policies


def policy_classes() -> list[type[BasePolicy]]:
    """The classes YAMLGRAPH["RULES"] names; ImproperlyConfigured naming the setting
    for a path that does not import or a class that is not a BasePolicy."""
    configured = app_settings.RULES
    paths = [configured] if isinstance(configured, str | type) else list(configured or [])
    if not paths:
        raise ImproperlyConfigured(f"{SETTING_NAME}['RULES'] lists no policy class.")
    classes: list[type[BasePolicy]] = []
    for path in paths:
        if isinstance(path, str):
            try:
                cls = import_string(path)
            except ImportError as exc:
                raise ImproperlyConfigured(
                    f"{SETTING_NAME}['RULES']: cannot import {path!r}: {exc}"
                ) from None
        else:
            cls = path
        if not (isinstance(cls, type) and issubclass(cls, BasePolicy)):
            raise ImproperlyConfigured(
                f"{SETTING_NAME}['RULES']: {path!r} is not a subclass of "
                "yamlgraph_django.services.rules.BasePolicy."
            )
        classes.append(cls)
    return classes


def _reload(*, setting: str, **kwargs: Any) -> None:
    global _policies
    if setting == SETTING_NAME:
        _policies = None


setting_changed.connect(_reload)


# --------------------------------------------------------------------------- asking


def visible_sessions(user: Any, queryset: QuerySet, *, listing: bool) -> QuerySet:
    """The sessions of `queryset` that `user` may see (every policy narrows it)."""
    if is_system(user):
        return queryset
    for policy in policies():
        queryset = policy.filter_visible(user, queryset, listing=listing)
    return queryset


def allowed(
    user: Any, action: str, session: Any = None, target: Sequence[str] | None = None
) -> bool:
    """Would `action` be allowed? For doors that show or hide a button (no error)."""
    try:
        _authorize(user, action, session, target)
    except (SessionNotFound, NotPermitted, NotAuthenticated):
        return False
    return True


def _authorize(
    user: Any,
    action: str,
    session: Any = None,
    target: Sequence[str] | None = None,
    graph: Any = None,
) -> None:
    if is_system(user):
        return
    action = Action(action)
    rules = policies()
    if session is not None and not all(
        policy.has_object_permission(user, Action.VIEW, session) for policy in rules
    ):
        raise SessionNotFound()  # says nothing about it: like an id nobody uses
    for policy in rules:
        if not policy.has_permission(user, action, graph):
            if not is_authenticated(user):
                raise NotAuthenticated(policy.message)
            raise NotPermitted(policy.message or _refusal(action, session))
        if (
            session is not None
            and action != Action.VIEW  # asked above
            and not policy.has_object_permission(user, action, session, target)
        ):
            if not is_authenticated(user):
                raise NotAuthenticated(policy.message)
            raise NotPermitted(policy.message or _refusal(action, session))


def _refusal(action: str, session: Any) -> str:
    what = f"session {session.pk}" if session is not None else "sessions"
    return f"You may not {_VERBS.get(Action(action), action)} {what}."


def authorize_view(user: Any, session: Any) -> None:
    """SessionNotFound unless `user` may see `session`."""
    _authorize(user, Action.VIEW, session)


def authorize_start(user: Any, graph: Any = None) -> None:
    """NotAuthenticated / NotPermitted unless `user` may start a session (of `graph`)."""
    _authorize(user, Action.START, graph=graph)


def authorize_answer(user: Any, session: Any, target: Sequence[str] | None = None) -> None:
    """May `user` answer `session`'s interrupts `target` (None: whichever are pending)?"""
    _authorize(user, Action.ANSWER, session, target)


def authorize_update_state(user: Any, session: Any) -> None:
    """May `user` change `session`'s state or metadata (LangGraph's update_state)?"""
    _authorize(user, Action.UPDATE_STATE, session)


def authorize_cancel(user: Any, session: Any) -> None:
    """May `user` cancel `session` (or one of its runs)?"""
    _authorize(user, Action.CANCEL, session)


def authorize_delete(user: Any, session: Any) -> None:
    """May `user` delete `session` with its checkpoints?"""
    _authorize(user, Action.DELETE, session)


def answered_ids(session: Any, values: Any = None) -> list[str] | None:
    """The interrupt ids an answer targets: the keys of `values`, else None (pending)."""
    if isinstance(values, dict):
        return [str(key) for key in values]
    return None
