"""The inbox and its questions: `GET /api/inbox/` (open questions waiting for the caller),
`GET /api/questions/{id}/`, and `POST .../claim/`, `.../release/`, `.../reassign/`.
Answers go through the sessions' resume endpoint, where assignment is enforced.

A page costs a constant number of queries (the questions with their session, graph and
people joined, plus one query per many-to-many: users, groups), whatever its length.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from yamlgraph_django.api import permissions
from yamlgraph_django.api.pagination import SessionPagination
from yamlgraph_django.api.schema import INVALID, NOT_FOUND, UNAUTHENTICATED, error_response
from yamlgraph_django.api.views import YamlgraphAPIView
from yamlgraph_django.models import Question, Session
from yamlgraph_django.services import inbox

FORBIDDEN = error_response(
    "The question is assigned to others, or claimed by someone else (`not_assignee`)."
)


class QuestionSerializer(serializers.ModelSerializer):
    """A question as its assignees see it."""

    session = serializers.UUIDField(source="session_id", read_only=True)
    thread_id = serializers.CharField(source="session.thread_id", read_only=True)
    graph = serializers.CharField(source="graph_name", read_only=True)
    assignees = serializers.SerializerMethodField()
    claimed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    answered_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    overdue = serializers.BooleanField(source="is_overdue", read_only=True)
    mine = serializers.SerializerMethodField()

    class Meta:
        model = Question
        fields = [
            "id",
            "session",
            "thread_id",
            "graph",
            "node",
            "interrupt_id",
            "text",
            "value",
            "status",
            "assignees",
            "exclude_owner",
            "claimed_by",
            "claimed_at",
            "due_at",
            "overdue",
            "reminded_at",
            "escalation_step",
            "answered_by",
            "answered_at",
            "created_at",
            "mine",
        ]
        read_only_fields = fields

    def get_assignees(self, question: Question) -> dict[str, Any]:
        permission = question.permission
        return {
            "users": [user.get_username() for user in question.users.all()],
            "groups": [group.name for group in question.groups.all()],
            "permission": f"{permission.content_type.app_label}.{permission.codename}"
            if permission
            else None,
        }

    def get_mine(self, question: Question) -> bool:
        """Assigned to the caller by name, or claimed by them (listed first)."""
        return bool(getattr(question, "is_mine", False))


class ReassignSerializer(serializers.Serializer):
    users = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    groups = serializers.ListField(child=serializers.CharField(), required=False, default=list)


#: A filter that is true or false, and nothing else (anything else is a 400).
BOOLEAN = [("true", "true"), ("false", "false")]


class InboxFilter(django_filters.FilterSet):
    """`overdue`, `graph` and `claimed` filters of the inbox."""

    overdue = django_filters.ChoiceFilter(
        choices=BOOLEAN,
        method="filter_overdue",
        help_text="Only questions past (true) or before (false) due.",
    )
    graph = django_filters.CharFilter(field_name="graph_name", help_text="Only this graph.")
    claimed = django_filters.ChoiceFilter(
        choices=BOOLEAN,
        method="filter_claimed",
        help_text="Only claimed (true) or unclaimed (false) ones.",
    )

    class Meta:
        model = Question
        fields = ["overdue", "graph", "claimed"]

    def filter_overdue(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        overdue = Q(due_at__lte=timezone.now())
        return queryset.filter(overdue) if value == "true" else queryset.exclude(overdue)

    def filter_claimed(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(claimed_by__isnull=value != "true")


def with_people(queryset: QuerySet[Question]) -> QuerySet[Question]:
    """Everything a serialized question shows, in a constant number of queries."""
    return queryset.select_related(
        "session", "claimed_by", "answered_by", "permission__content_type"
    ).prefetch_related(Prefetch("users"), Prefetch("groups"))


class InboxView(YamlgraphAPIView, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = QuestionSerializer
    pagination_class = SessionPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = InboxFilter
    queryset = Question.objects.none()  # for schema introspection only

    def get_queryset(self) -> QuerySet[Question]:
        return with_people(Question.objects.for_user(self.request.user))

    @extend_schema(
        summary="Questions waiting for me",
        description="Open questions assigned to the caller, to one of their groups, or to "
        "a permission they hold: theirs by name (or claimed by them) first, then the soonest "
        "due. Answer one with POST /api/sessions/{session}/resume/.",
        responses={
            200: QuestionSerializer(many=True),
            400: INVALID,
            401: UNAUTHENTICATED,
            404: error_response("No such page (`not_found`)."),
        },
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


@extend_schema_view(
    retrieve=extend_schema(
        summary="A question",
        description="A question the caller must answer, or of a session they may see.",
        responses={200: QuestionSerializer, 401: UNAUTHENTICATED, 404: NOT_FOUND},
    )
)
class QuestionViewSet(YamlgraphAPIView, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = QuestionSerializer
    queryset = Question.objects.none()  # for schema introspection only

    def get_queryset(self) -> QuerySet[Question]:
        user = self.request.user
        sessions = permissions.visible_sessions(user, Session.objects.all(), listing=False)
        return with_people(
            Question.objects.filter(
                Q(session__in=sessions.values("pk")) | Question.objects.audience(user)
            )
        )

    def _done(self, question: Question) -> Response:
        """The question as it is now (the caller may have just handed it away)."""
        question = with_people(Question.objects.filter(pk=question.pk)).get()
        return Response(QuestionSerializer(question).data)

    @extend_schema(
        summary="Claim a question",
        description="The caller takes the question on: others may answer it only after "
        "it is released (or with the override permission).",
        request=None,
        responses={
            200: QuestionSerializer,
            400: INVALID,
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    )
    @action(detail=True, methods=["post"])
    def claim(self, request: Request, pk: str | None = None) -> Response:
        question = self.get_object()
        inbox.claim(question, request.user)
        return self._done(question)

    @extend_schema(
        summary="Release a claimed question",
        description="Gives the question back to all its assignees.",
        request=None,
        responses={200: QuestionSerializer, 401: UNAUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str | None = None) -> Response:
        question = self.get_object()
        inbox.release(question, request.user)
        return self._done(question)

    @extend_schema(
        summary="Hand a question to others",
        description="Assign the question to these users and/or groups instead (recorded "
        "with who did it); they are told by e-mail. For its assignees and holders of the "
        "override permission.",
        request=ReassignSerializer,
        responses={
            200: QuestionSerializer,
            400: OpenApiResponse(description="No or unknown users/groups."),
            401: UNAUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    )
    @action(detail=True, methods=["post"])
    def reassign(self, request: Request, pk: str | None = None) -> Response:
        question = self.get_object()
        body = ReassignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        inbox.reassign(
            question,
            users=body.validated_data["users"],
            groups=body.validated_data["groups"],
            actor=request.user,
        )
        return self._done(question)
