"""The admin's inbox: "Waiting for me" (open questions for the user, their groups, or a
permission they hold; theirs by name first, overdue marked) with each question's answer
buttons, Claim/Release and Reassign; "Answered by me", the archive; and the question
list for those who may view questions.

The pages parse and present; claiming, handing on and answering are the service's
(`services.questions`, `services.resume_session`), which enforce who may.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from yamlgraph_django import services
from yamlgraph_django.exceptions import YamlgraphError
from yamlgraph_django.models import Question, RunChannel
from yamlgraph_django.question_status import QuestionStatus
from yamlgraph_django.services import inbox

#: Questions per inbox page (the page is for a person: a long list is a filter away).
INBOX_LIMIT = 50


def choices_of(value: Any) -> list[Any]:
    """The answer buttons of a question: its `choices`, if the value lists some."""
    if isinstance(value, dict) and isinstance(value.get("choices"), list):
        return list(value["choices"])
    return []


def parsed_answer(text: str) -> Any:
    """What a typed answer means: JSON if it parses (42, true, {...}), else the text."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def waiting_count(user: Any) -> int:
    """How many open questions wait for `user` (the admin index shows it)."""
    return Question.objects.for_user(user).count()


class QuestionAdmin(admin.ModelAdmin):
    list_display = ("text", "graph_name", "node", "status", "due_at", "claimed_by", "answered_by")
    list_filter = ("status", "graph_name")
    list_select_related = ("claimed_by", "answered_by")
    readonly_fields = [field.name for field in Question._meta.fields] + ["users", "groups"]
    inbox_template = "admin/yamlgraph_django/question/inbox.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("inbox/", wrap(self.inbox_view), name=f"{name}_inbox"),
            path("answered/", wrap(self.answered_view), name=f"{name}_answered"),
            path("<int:pk>/answer/", wrap(require_POST(self.answer_view)), name=f"{name}_answer"),
            path("<int:pk>/claim/", wrap(require_POST(self.claim_view)), name=f"{name}_claim"),
            path(
                "<int:pk>/release/", wrap(require_POST(self.release_view)), name=f"{name}_release"
            ),
            path(
                "<int:pk>/reassign/",
                wrap(require_POST(self.reassign_view)),
                name=f"{name}_reassign",
            ),
            *super().get_urls(),
        ]

    def _inbox_url(self) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_inbox",
            current_app=self.admin_site.name,
        )

    def _page(self, request: HttpRequest, title: str, rows: QuerySet, archive: bool) -> Any:
        rows = rows.select_related(
            "session", "session__owner", "claimed_by", "answered_by", "permission"
        ).prefetch_related("users", "groups")[:INBOX_LIMIT]
        items = [
            {"question": q, "choices": [(c, json.dumps(c)) for c in choices_of(q.value)]}
            for q in rows
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "items": items,
            "archive": archive,
            "limit": INBOX_LIMIT,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.inbox_template, context)

    def inbox_view(self, request: HttpRequest) -> HttpResponse:
        """Waiting for me: open questions for this user, theirs first, soonest due."""
        return self._page(
            request, _("Waiting for me"), Question.objects.for_user(request.user), False
        )

    def answered_view(self, request: HttpRequest) -> HttpResponse:
        """Answered by me: the archive of what this user decided."""
        rows = Question.objects.filter(
            answered_by=request.user, status=QuestionStatus.ANSWERED
        ).order_by("-answered_at", "-pk")
        return self._page(request, _("Answered by me"), rows, True)

    def _question(self, pk: int) -> Question:
        return get_object_or_404(Question.objects.select_related("session", "claimed_by"), pk=pk)

    def _act(self, request: HttpRequest, action: Any, done: str) -> HttpResponse:
        try:
            action()
        except YamlgraphError as exc:
            if exc.status_code == 404:
                raise PermissionDenied(exc.detail) from None
            self.message_user(request, _("Nothing was changed: %s") % exc.detail, messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return HttpResponseRedirect(self._inbox_url())

    def answer_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Answer one question: a choice button's value (JSON) or the typed field."""
        question = self._question(pk)
        if "choice" in request.POST:
            value = json.loads(request.POST["choice"])
        else:
            value = parsed_answer(request.POST.get("answer", ""))

        def answer() -> None:
            services.resume_session(
                question.session,
                values={question.interrupt_id: value},
                actor=request.user,
                channel=RunChannel.ADMIN,
            )

        return self._act(request, answer, _("Answered: %s") % json.dumps(value))

    def claim_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        question = self._question(pk)
        return self._act(
            request, lambda: inbox.claim(question, request.user), _("Claimed: it is yours.")
        )

    def release_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        question = self._question(pk)
        return self._act(request, lambda: inbox.release(question, request.user), _("Released."))

    def reassign_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Hand the question to a user or a group (one name, as typed)."""
        question = self._question(pk)
        name = request.POST.get("to", "").strip()
        kind = request.POST.get("kind", "user")

        def reassign() -> None:
            inbox.reassign(
                question,
                users=[name] if kind == "user" and name else [],
                groups=[name] if kind == "group" and name else [],
                actor=request.user,
            )

        return self._act(request, reassign, _("Handed to %s.") % name)
