"""Bulk actions on selected sessions: cancel, delete with checkpoints, recover, prune.

Each goes through the session service one session at a time, so one busy session never
stops the others, and reports in one message how many it changed and, grouped by
reason, why the others were skipped ("2 skipped: 1 already completed, 1 running").
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from yamlgraph_django import services
from yamlgraph_django.exceptions import (
    CheckpointerUnavailable,
    NotPermitted,
    SessionBusy,
    SessionNotFound,
    YamlgraphError,
)
from yamlgraph_django.models import Session, SessionStatus

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    _Base = ModelAdmin
else:
    _Base = object

CHANNEL = "admin"


def skip_reason(exc: YamlgraphError) -> str:
    """A short, countable reason for the report (the service's detail names the session)."""
    if isinstance(exc, SessionBusy):
        return _("running right now")
    if isinstance(exc, SessionNotFound):
        return _("already deleted")
    if isinstance(exc, CheckpointerUnavailable):
        return _("checkpoint store unavailable")
    if isinstance(exc, NotPermitted):
        return _("not permitted")
    return exc.detail


def sessions_word(count: int) -> str:
    return ngettext("%(count)d session", "%(count)d sessions", count) % {"count": count}


class SessionActionsMixin(_Base):
    """Bulk actions of SessionAdmin (mixed into the ModelAdmin)."""

    actions = ["cancel_sessions", "delete_with_checkpoints", "recover_stale", "prune_expired"]
    delete_selected_template = "admin/yamlgraph_django/session/delete_selected_confirmation.html"

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        """Without Django's delete_selected: it would leave the checkpoints behind.

        `action_location` exists from Django 6.1 on; 5.2 calls this with the request only.
        """
        if action_location is None:
            actions = super().get_actions(request)
        else:
            actions = super().get_actions(request, action_location=action_location)
        actions.pop("delete_selected", None)
        return actions

    def report(self, request: HttpRequest, done: str, count: int, skipped: Counter) -> None:
        """One message: what changed, then the skipped ones grouped by reason."""
        text = done % {"sessions": sessions_word(count)}
        level = messages.SUCCESS
        if skipped:
            ordered = sorted(skipped.items(), key=lambda item: (-item[1], item[0]))
            reasons = ", ".join(f"{n} {reason}" for reason, n in ordered)
            text += " " + ngettext(
                "Skipped %(count)d: %(reasons)s.",
                "Skipped %(count)d: %(reasons)s.",
                skipped.total(),
            ) % {"count": skipped.total(), "reasons": reasons}
            level = messages.WARNING
        self.message_user(request, text, level)

    # -- cancel ------------------------------------------------------------------------------

    @admin.action(description=gettext_lazy("Cancel selected sessions"), permissions=["cancel"])
    def cancel_sessions(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Asks first (like Delete), then cancels each through the service."""
        if request.POST.get("post") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": _("Cancel sessions?"),
                "opts": self.opts,
                "sessions": list(queryset),
                "action_name": "cancel_sessions",
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "media": self.media,
            }
            request.current_app = self.admin_site.name
            return TemplateResponse(
                request, "admin/yamlgraph_django/session/cancel_confirmation.html", context
            )
        done, skipped = 0, Counter()
        for session in queryset:
            if session.status in (SessionStatus.COMPLETED, SessionStatus.CANCELLED):
                skipped[_("already %s") % session.get_status_display().lower()] += 1
                continue
            try:
                services.cancel_session(session, actor=request.user, channel=CHANNEL)
            except YamlgraphError as exc:
                skipped[skip_reason(exc)] += 1
                continue
            self.log_change(request, session, _("Cancelled from the admin."))
            done += 1
        self.report(request, _("Cancelled %(sessions)s."), done, skipped)
        return None

    # -- delete with checkpoints -----------------------------------------------------------

    @admin.action(
        description=gettext_lazy("Delete selected sessions with their checkpoints"),
        permissions=["delete"],
    )
    def delete_with_checkpoints(
        self, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        """Asks first (like Django's delete_selected), then deletes through the service."""
        if request.POST.get("post") != "yes":
            sessions = list(queryset)
            context = {
                **self.admin_site.each_context(request),
                "title": _("Delete sessions with their checkpoints?"),
                "opts": self.opts,
                "sessions": sessions,
                "running": [s for s in sessions if s.status == SessionStatus.RUNNING],
                "action_name": "delete_with_checkpoints",
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "media": self.media,
            }
            request.current_app = self.admin_site.name
            return TemplateResponse(request, self.delete_selected_template, context)
        done, skipped = 0, Counter()
        for session in queryset:
            if self._delete(request, session, skipped):
                done += 1
        self.report(request, _("Deleted %(sessions)s with their checkpoints."), done, skipped)
        return None

    # -- recover stale -------------------------------------------------------------------

    @admin.action(
        description=gettext_lazy("Recover stale sessions (crashed while running)"),
        permissions=["recover"],
    )
    def recover_stale(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Settle running sessions whose lease expired: their process died.

        The service recovers every stale session at once (a crashed run is never worth
        keeping "running"), so stale sessions outside the selection are recovered too
        and the message says so; selected sessions that are not stale are the skipped ones.
        """
        selected = {session.pk: session for session in queryset}
        recovered = services.recover_stale_sessions(actor=request.user, channel=CHANNEL)
        recovered_ids = {session.pk for session in recovered}
        skipped: Counter = Counter()
        stamp = timezone.now()
        for pk, session in selected.items():
            if pk in recovered_ids:
                continue
            if session.status != SessionStatus.RUNNING:
                skipped[_("not running (%s)") % session.get_status_display().lower()] += 1
            elif session.lease_expires_at is None or session.lease_expires_at > stamp:
                skipped[_("still running within its lease")] += 1
            else:
                skipped[_("checkpoint store unavailable")] += 1
        done = len(recovered_ids & selected.keys())
        others = len(recovered_ids - selected.keys())
        text = _("Recovered %(sessions)s.")
        if others:
            text += " " + ngettext(
                "Also recovered %(count)d stale session that was not selected.",
                "Also recovered %(count)d stale sessions that were not selected.",
                others,
            ) % {"count": others}
        self.report(request, text, done, skipped)

    # -- prune expired ---------------------------------------------------------------------

    @admin.action(
        description=gettext_lazy("Prune selected sessions that have expired"),
        permissions=["delete"],
    )
    def prune_expired(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Delete (with checkpoints) the selected sessions past their `expires_at`.

        The same rule as `manage.py yamlgraph prune`: expired and not running. Select all
        to prune every expired session.
        """
        stamp = timezone.now()
        done, skipped = 0, Counter()
        for session in queryset:
            if session.expires_at is None:
                skipped[_("no expiry set")] += 1
                continue
            if session.expires_at > stamp:
                skipped[_("not expired yet")] += 1
                continue
            if self._delete(request, session, skipped):
                done += 1
        self.report(request, _("Pruned %(sessions)s that had expired."), done, skipped)

    def _delete(self, request: HttpRequest, session: Session, skipped: Counter) -> bool:
        """Delete one session through the service and log it in the admin history.

        The log entry is written first (it needs the row) and rolled back with the
        savepoint if the service refuses, so the history never shows a delete that
        did not happen.
        """
        try:
            with transaction.atomic(using=router.db_for_write(Session)):
                self.log_deletions(request, [session])
                services.delete_session(session, actor=request.user)
        except YamlgraphError as exc:
            skipped[skip_reason(exc)] += 1
            return False
        return True
