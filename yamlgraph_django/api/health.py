"""`GET /api/health/`: the database, the checkpointer, the event log and the newest
worker heartbeat; 200 when all are up, 503 when one is down (what a load balancer or
an uptime monitor polls). No login needed; what went wrong is shown to staff only
(it may name hosts)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from yamlgraph_django.api.permissions import authenticators
from yamlgraph_django.services.health import health_report


def health_response(request: Request, **extra: object) -> Response:
    """The health report as a response (shared with the protocol's `/ok`)."""
    report = health_report()
    user = getattr(request, "user", None)
    staff = bool(user is not None and user.is_authenticated and user.is_staff)
    body = {**extra, **report.as_dict(with_errors=staff)}
    code = status.HTTP_200_OK if report.ok else status.HTTP_503_SERVICE_UNAVAILABLE
    headers = {"Cache-Control": "no-store"}
    if not report.ok:
        headers["Retry-After"] = "5"
    return Response(body, status=code, headers=headers)


class HealthView(APIView):
    renderer_classes = [JSONRenderer]
    throttle_classes: list[type] = []

    def get_authenticators(self) -> list:
        return authenticators()

    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny()]

    @extend_schema(
        summary="Health check",
        description="Database, checkpointer, event log and workers: each `ok` or `down` "
        "with how long it took to answer; `worker` also says how many workers are alive "
        "and when one was last seen. 503 when one is down.",
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="All parts answer."),
            503: OpenApiResponse(OpenApiTypes.OBJECT, description="A part is down."),
        },
    )
    def get(self, request: Request) -> Response:
        return health_response(request)
