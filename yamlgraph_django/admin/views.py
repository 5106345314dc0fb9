"""The session page's buttons: Resume, Cancel, Delete with checkpoints, and Start session.

Every view is wrapped in `admin_site.admin_view` (staff login, CSRF, never cached),
checks the model permission it needs, and changes things only on POST through the
session service. Errors a person can cause by being a moment late (someone else answered,
the session is running) come back as a message on the session page, never as an error
page; bad input comes back as a form error and changes nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from yamlgraph_django import registry, services
from yamlgraph_django.admin.diagram import graph_svg
from yamlgraph_django.admin.display import short_question
from yamlgraph_django.exceptions import (
    CheckpointerUnavailable,
    GraphNotFound,
    InvalidInput,
    NotPermitted,
    SessionBusy,
    SessionNotFound,
    SessionNotResumable,
    YamlgraphError,
)
from yamlgraph_django.forms import ResumeForm, StartSessionForm
from yamlgraph_django.models import RunStatus, Session, SessionStatus

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    _Base = ModelAdmin
else:
    _Base = object

#: Statuses the service lets a person cancel (a running one answers SessionBusy: it is
#: mid-step; a failed one may be cancelled to stop retries for good).
CANCELLABLE = (SessionStatus.PENDING, SessionStatus.INTERRUPTED, SessionStatus.FAILED)
CHANNEL = "admin"

logger = logging.getLogger("yamlgraph_django.admin")


def outcome(session: Session) -> tuple[str, int]:
    """What a person should read after starting or resuming: where the session stands now."""
    if session.status == SessionStatus.INTERRUPTED:
        return (
            _("It is waiting for an answer: %(question)s")
            % {"question": short_question(session.interrupts, 200)},
            messages.SUCCESS,
        )
    if session.status == SessionStatus.COMPLETED:
        return _("It has completed."), messages.SUCCESS
    if session.status == SessionStatus.FAILED:
        return _("It failed: %(error)s") % {"error": session.error}, messages.ERROR
    if session.status in (SessionStatus.PENDING, SessionStatus.RUNNING):
        if stream_url(session) is None:
            text = _("It is running in the background; reload this page to follow it.")
        else:
            text = _("It is running in the background; its steps show below as they happen.")
        return text, messages.INFO
    return _("It is %(status)s.") % {"status": session.get_status_display().lower()}, messages.INFO


def stream_url(session: Session) -> str | None:
    """The session's event stream in the API, or None if the project does not mount it."""
    try:
        return reverse("yamlgraph_api:session-stream", args=[session.pk])
    except NoReverseMatch:
        return None


def live_stream_url(session: Session) -> str | None:
    """What the session page follows while a run is in flight: the event stream after the
    log's current end (the page shows everything before it). None when nothing runs,
    when the API is not mounted, or when the log cannot be read (the page still works)."""
    in_flight = session.status in (SessionStatus.PENDING, SessionStatus.RUNNING) or (
        session.runs.filter(status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).exists()
    )
    url = stream_url(session) if in_flight else None
    if url is None:
        return None
    try:
        position = services.latest_event_id(session.pk)
    except Exception:  # the log is down: the page shows what the server knows, no more
        logger.warning("event log unreadable for session %s", session.pk, exc_info=True)
        return None
    return f"{url}?{urlencode({'after': position})}" if position else url


class SessionViewsMixin(_Base):
    """Custom views of SessionAdmin (mixed into the ModelAdmin)."""

    resume_template = "admin/yamlgraph_django/session/resume.html"
    cancel_confirmation_template = "admin/yamlgraph_django/session/cancel_confirmation.html"
    start_template = "admin/yamlgraph_django/session/start.html"

    # -- urls ------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("start/", wrap(self.start_view), name="{}_{}_start".format(*info)),
            path(
                "<path:object_id>/resume/",
                wrap(self.resume_view),
                name="{}_{}_resume".format(*info),
            ),
            path(
                "<path:object_id>/cancel/",
                wrap(self.cancel_view),
                name="{}_{}_cancel".format(*info),
            ),
            path(
                "<path:object_id>/retry/",
                wrap(require_POST(self.retry_view)),
                name="{}_{}_retry".format(*info),
            ),
            *super().get_urls(),
        ]

    def _url(self, name: str, *args: Any) -> str:
        opts = self.opts
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_{name}",
            args=args,
            current_app=self.admin_site.name,
        )

    def _change_url(self, session: Session) -> str:
        return self._url("change", session.pk)

    def _get_session(self, request: HttpRequest, object_id: str) -> Session | None:
        """The session if this user may see it (SESSION_ACCESS and view permission)."""
        session = self.get_object(request, unquote(object_id))
        if session is not None and not self.has_view_permission(request, session):
            raise PermissionDenied
        return session

    # -- the detail page -------------------------------------------------------------------

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Session | None = None,
    ) -> HttpResponse:
        """Add the buttons this user may press on this session in its current status."""
        if obj is not None:
            context.update(
                show_resume=obj.status == SessionStatus.INTERRUPTED
                and self.has_resume_permission(request, obj),
                show_cancel=obj.status in CANCELLABLE and self.has_cancel_permission(request, obj),
                show_retry=obj.status == SessionStatus.FAILED
                and self.has_resume_permission(request, obj),
                show_delete_with_checkpoints=self.has_delete_permission(request, obj),
                resume_url=self._url("resume", obj.pk),
                cancel_url=self._url("cancel", obj.pk),
                retry_url=self._url("retry", obj.pk),
                delete_url=self._url("delete", obj.pk),
                show_delete=False,  # our own "Delete with checkpoints" replaces the link
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """Adding a session means starting one: the generic form cannot run a graph."""
        url = self._url("start")
        if request.GET:
            url += "?" + request.GET.urlencode()
        return HttpResponseRedirect(url)

    # -- delete with checkpoints (Django's confirmation page, our delete) ------------------

    def delete_model(self, request: HttpRequest, obj: Session) -> None:
        """Delete through the service, so the thread's checkpoints go too."""
        services.delete_session(obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        """Never a bulk SQL DELETE: that would leave every thread's checkpoints behind."""
        for session in queryset:
            services.delete_session(session, actor=request.user)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        """Django's delete view; a session that cannot be deleted now answers with a message.
        One this user may not see is missing, as on every door (Django would answer a user
        without the delete permission 403 first)."""
        if self.get_object(request, unquote(object_id)) is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        try:
            return super().delete_view(request, object_id, extra_context)
        except YamlgraphError as exc:
            self.message_user(
                request,
                _("The session was not deleted: %(reason)s") % {"reason": exc.detail},
                messages.WARNING,
            )
            return HttpResponseRedirect(self._url("change", unquote(object_id)))

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        self.message_user(
            request,
            _("The session “%(obj)s” and its checkpoints were deleted.") % {"obj": obj_display},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(self._url("changelist"))

    # -- resume ----------------------------------------------------------------------------

    def resume_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """One field per pending interrupt; POST resumes through the service."""
        session = self._get_session(request, object_id)
        if session is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_resume_permission(request, session):
            raise PermissionDenied
        if session.status != SessionStatus.INTERRUPTED or not session.interrupts:
            self.message_user(request, self._not_waiting(session), messages.WARNING)
            return HttpResponseRedirect(self._change_url(session))

        form = ResumeForm(
            request.POST if request.method == "POST" else None, interrupts=session.interrupts
        )
        if request.method == "POST":
            if form.has_error("interrupt_ids", "stale"):
                self.message_user(request, form.errors["interrupt_ids"][0], messages.WARNING)
                return HttpResponseRedirect(self._url("resume", session.pk))
            if form.is_valid():
                try:
                    session = services.resume_session(
                        session, values=form.answers(), actor=request.user, channel=CHANNEL
                    )
                except (SessionBusy, SessionNotResumable) as exc:
                    self.message_user(
                        request,
                        _("Nothing was changed: %(reason)s") % {"reason": exc.detail},
                        messages.WARNING,
                    )
                    return HttpResponseRedirect(self._change_url(session))
                except InvalidInput as exc:
                    self._answer_errors(form, exc)
                except NotPermitted as exc:  # the rulebook (an assigned question, too)
                    raise PermissionDenied(exc.detail) from None
                except SessionNotFound:
                    raise Http404(_("No such session.")) from None
                except CheckpointerUnavailable as exc:
                    form.add_error(None, _("Nothing was changed: %s") % exc.detail)
                else:
                    self.log_change(request, session, _("Resumed from the admin."))
                    text, level = outcome(session)
                    self.message_user(request, _("Resumed. %s") % text, level)
                    return HttpResponseRedirect(self._change_url(session))

        context = {
            **self.admin_site.each_context(request),
            "title": _("Answer and resume"),
            "subtitle": str(session),
            "opts": self.opts,
            "original": session,
            "session": session,
            "form": form,
            "media": self.media + form.media,
            "change_url": self._change_url(session),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.resume_template, context)

    @staticmethod
    def _answer_errors(form: ResumeForm, exc: InvalidInput) -> None:
        """The service's refusal next to the answer it concerns (else above the form)."""
        per_interrupt = exc.errors.get("values")
        ids = [interrupt.get("id") for interrupt in form.interrupts]
        if isinstance(per_interrupt, dict):
            for interrupt_id, message in per_interrupt.items():
                if interrupt_id in ids:
                    form.add_error(f"answer_{ids.index(interrupt_id)}", str(message))
                else:
                    form.add_error(None, f"{interrupt_id}: {message}")
            return
        form.add_error(None, exc.detail)

    @staticmethod
    def _not_waiting(session: Session) -> str:
        if session.status in (SessionStatus.RUNNING, SessionStatus.PENDING):
            return _(
                "This session is %(status)s right now: another request is running it. "
                "Try again once it has paused."
            ) % {"status": session.get_status_display().lower()}
        return _("This session is not waiting for an answer (it is %(status)s).") % {
            "status": session.get_status_display().lower()
        }

    # -- cancel ----------------------------------------------------------------------------

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET asks for confirmation (like Delete); POST cancels through the service."""
        session = self._get_session(request, object_id)
        if session is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_cancel_permission(request, session):
            raise PermissionDenied
        if request.method != "POST":
            context = {
                **self.admin_site.each_context(request),
                "title": _("Cancel this session?"),
                "subtitle": str(session),
                "opts": self.opts,
                "original": session,
                "session": session,
                "sessions": [session],
                "question": short_question(session.interrupts, 200),
                "change_url": self._change_url(session),
                "action_name": None,
            }
            request.current_app = self.admin_site.name
            return TemplateResponse(request, self.cancel_confirmation_template, context)
        try:
            services.cancel_session(session, actor=request.user, channel=CHANNEL)
        except YamlgraphError as exc:
            self.message_user(
                request,
                _("The session was not cancelled: %(reason)s") % {"reason": exc.detail},
                messages.WARNING,
            )
        else:
            self.log_change(request, session, _("Cancelled from the admin."))
            self.message_user(request, _("The session was cancelled."), messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(session))

    # -- retry -----------------------------------------------------------------------------

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only: run a failed session again from its last checkpoint."""
        session = self._get_session(request, object_id)
        if session is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_resume_permission(request, session):
            raise PermissionDenied
        try:
            session = services.resume_session(session, actor=request.user, channel=CHANNEL)
        except YamlgraphError as exc:
            self.message_user(
                request,
                _("Nothing was changed: %(reason)s") % {"reason": exc.detail},
                messages.WARNING,
            )
        else:
            self.log_change(request, session, _("Retried from the admin."))
            text, level = outcome(session)
            self.message_user(request, _("Retried. %s") % text, level)
        return HttpResponseRedirect(self._change_url(session))

    # -- start -----------------------------------------------------------------------------

    def start_view(self, request: HttpRequest) -> HttpResponse:
        """Choose a graph, fill in its state fields (typed, from the YAML's `state:`),
        start, and land on the new session."""
        if not self.has_start_permission(request):
            raise PermissionDenied
        graphs = list(registry.latest_definitions())
        chosen = request.POST.get("graph") or request.GET.get("graph")
        definition = next((g for g in graphs if g.name == chosen), None)
        if definition is None and len(graphs) == 1:
            definition = graphs[0]
        config = registry.config_for(definition) if definition is not None else None
        form = StartSessionForm(
            request.POST if request.method == "POST" else None,
            graphs=graphs,
            config=config,
            initial={"graph": definition.name if definition else chosen},
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                session = services.start_session(
                    data["graph"],
                    form.start_input(),
                    owner=request.user,
                    metadata=data["metadata"],
                    thread_id=data["thread_id"],
                    channel=CHANNEL,
                )
            except GraphNotFound as exc:
                form.add_error("graph", exc.detail)
            except InvalidInput as exc:
                self._input_errors(form, exc)
            except CheckpointerUnavailable as exc:
                form.add_error(None, _("Nothing was started: %s") % exc.detail)
            else:
                self.log_addition(request, session, _("Started from the admin."))
                text, level = outcome(session)
                self.message_user(
                    request,
                    format_html("{} {}", _("Started a session of %s.") % session.graph, text),
                    level,
                )
                return HttpResponseRedirect(self._change_url(session))

        context = {
            **self.admin_site.each_context(request),
            "title": _("Start a session of %s") % definition.name
            if definition
            else _("Start a session"),
            "opts": self.opts,
            "form": form,
            "graphs": graphs,
            "chosen": definition,
            "start_url": self._url("start"),
            "picture": graph_svg(config) if config is not None else None,
            "media": self.media + form.media,
            "graphs_url": reverse(
                "admin:yamlgraph_django_graphdefinition_changelist",
                current_app=self.admin_site.name,
            ),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.start_template, context)

    @staticmethod
    def _input_errors(form: StartSessionForm, exc: InvalidInput) -> None:
        """Put the service's field errors next to the form field they concern."""
        if not exc.errors:
            form.add_error("input", exc.detail)
            return
        for key, message in exc.errors.items():
            text = message[0] if isinstance(message, list | tuple) and message else message
            if key in ("metadata", "thread_id", "input"):
                form.add_error(key, str(text))
            else:  # a state field: next to its typed field, or under the JSON box
                form.add_input_error(str(key), str(text))
