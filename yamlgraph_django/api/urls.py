"""URLs of the API; the project mounts them under a prefix, usually `api/`:

    path("api/", include("yamlgraph_django.api.urls")),

Names live in the `yamlgraph_api` namespace (`yamlgraph_api:session-detail`, ...).
`schema/` is the OpenAPI 3 document and `docs/` Swagger UI, whose files come from
drf-spectacular-sidecar (set SPECTACULAR_SETTINGS["SWAGGER_UI_DIST"] = "SIDECAR"), so
the docs page works without internet access.
"""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from yamlgraph_django.api.health import HealthView
from yamlgraph_django.api.questions import InboxView, QuestionViewSet
from yamlgraph_django.api.views import GraphViewSet, SessionViewSet

app_name = "yamlgraph_api"

router = DefaultRouter(trailing_slash=True)
router.include_format_suffixes = False
router.register("graphs", GraphViewSet, basename="graph")
router.register("sessions", SessionViewSet, basename="session")
router.register("inbox", InboxView, basename="inbox")
router.register("questions", QuestionViewSet, basename="question")

urlpatterns = [
    path("health/", HealthView.as_view(), name="health"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="yamlgraph_api:schema"), name="docs"),
    path("", include(router.urls)),
]
