"""URLs of the LangGraph server protocol; the project mounts them under a prefix:

    path("lg/", include("yamlgraph_django.protocol.urls")),

and clients use `http://host/lg` as their URL. Paths have no trailing slash, as the
LangGraph SDKs send them.
"""

from __future__ import annotations

from django.urls import path, re_path

from yamlgraph_django.protocol import commands, runs, views
from yamlgraph_django.protocol import crons as cron_views
from yamlgraph_django.protocol import store as store_views

app_name = "yamlgraph_protocol"

THREAD = "threads/<str:thread_id>"
RUN = f"{THREAD}/runs/<str:run_id>"

urlpatterns = [
    path("ok", views.OkView.as_view(), name="ok"),
    path("info", views.InfoView.as_view(), name="info"),
    path("assistants/search", views.AssistantSearchView.as_view(), name="assistant-search"),
    path("assistants/count", views.AssistantCountView.as_view(), name="assistant-count"),
    path("assistants/<str:assistant_id>", views.AssistantDetailView.as_view(), name="assistant"),
    path(
        "assistants/<str:assistant_id>/graph",
        views.AssistantGraphView.as_view(),
        name="assistant-graph",
    ),
    path(
        "assistants/<str:assistant_id>/schemas",
        views.AssistantSchemasView.as_view(),
        name="assistant-schemas",
    ),
    path(
        "assistants/<str:assistant_id>/subgraphs",
        views.AssistantSubgraphsView.as_view(),
        name="assistant-subgraphs",
    ),
    path("runs/crons", cron_views.CronCreateView.as_view(), name="crons"),
    path("runs/crons/search", cron_views.CronSearchView.as_view(), name="cron-search"),
    path("runs/crons/count", cron_views.CronCountView.as_view(), name="cron-count"),
    path("runs/crons/<str:cron_id>", cron_views.CronDetailView.as_view(), name="cron"),
    path("runs/wait", runs.StatelessRunWaitView.as_view(), name="stateless-run-wait"),
    path("runs/stream", runs.StatelessRunStreamView.as_view(), name="stateless-run-stream"),
    path("threads", views.ThreadCreateView.as_view(), name="threads"),
    path("threads/search", views.ThreadSearchView.as_view(), name="thread-search"),
    path("threads/count", views.ThreadCountView.as_view(), name="thread-count"),
    path(THREAD, views.ThreadDetailView.as_view(), name="thread"),
    path(f"{THREAD}/copy", views.ThreadCopyView.as_view(), name="thread-copy"),
    path(f"{THREAD}/state", views.ThreadStateView.as_view(), name="thread-state"),
    path(
        f"{THREAD}/state/checkpoint",
        views.ThreadStateAtCheckpointView.as_view(),
        name="thread-state-checkpoint",
    ),
    path(
        f"{THREAD}/state/<str:checkpoint_id>",
        views.ThreadStateView.as_view(),
        name="thread-state-at",
    ),
    path(f"{THREAD}/history", views.ThreadHistoryView.as_view(), name="thread-history"),
    path(f"{THREAD}/commands", commands.CommandsView.as_view(), name="thread-commands"),
    path(
        f"{THREAD}/stream/events", commands.StreamEventsView.as_view(), name="thread-stream-events"
    ),
    path(f"{THREAD}/stream", commands.ThreadJoinStreamView.as_view(), name="thread-join-stream"),
    path(f"{THREAD}/runs", runs.RunListView.as_view(), name="runs"),
    path(f"{THREAD}/runs/crons", cron_views.ThreadCronCreateView.as_view(), name="thread-crons"),
    path(f"{THREAD}/runs/wait", runs.RunWaitView.as_view(), name="run-wait"),
    path(f"{THREAD}/runs/stream", runs.RunStreamView.as_view(), name="run-stream"),
    path(RUN, runs.RunDetailView.as_view(), name="run"),
    path(f"{RUN}/join", runs.RunJoinView.as_view(), name="run-join"),
    path(f"{RUN}/stream", runs.RunJoinStreamView.as_view(), name="run-join-stream"),
    path(f"{RUN}/cancel", runs.RunCancelView.as_view(), name="run-cancel"),
    path("store/items", store_views.StoreItemsView.as_view(), name="store-items"),
    path("store/items/search", store_views.StoreSearchView.as_view(), name="store-search"),
    path("store/namespaces", store_views.StoreNamespacesView.as_view(), name="store-namespaces"),
    # Last: every other path answers a JSON 404 (never Django's HTML page).
    re_path(r"^(?P<path>.*)$", views.not_found, name="not-found"),
]
