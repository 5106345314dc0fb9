"""URLs of the reference project: the admin, the API and the LangGraph protocol when the app
ships them, `/` -> admin."""

from importlib.util import find_spec

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView


def module_exists(name: str) -> bool:
    """True when `name` can be imported; False also when a parent package is missing."""
    try:
        return find_spec(name) is not None
    except ModuleNotFoundError:
        return False


urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False), name="home"),
    path("admin/", admin.site.urls),
]

if module_exists("yamlgraph_django.metrics"):
    from yamlgraph_django.metrics import metrics_view

    # Prometheus scrapes; 404 unless YAMLGRAPH_METRICS=1 (YAMLGRAPH["METRICS"]).
    urlpatterns.append(path("metrics", metrics_view, name="metrics"))

if module_exists("yamlgraph_django.api.urls"):
    urlpatterns.append(path("api/", include("yamlgraph_django.api.urls")))

if module_exists("yamlgraph_django.protocol.urls"):
    # LangGraph clients: get_client(url="http://127.0.0.1:8000/lg")
    urlpatterns.append(path("lg/", include("yamlgraph_django.protocol.urls")))
