"""ASGI entry point: `uvicorn project.asgi:application` (what `make run` starts).

Under ASGI an idle event-stream client costs no worker thread. Sync views run through
`yamlgraph_django.asgi`'s handler: middleware and view in one hop to a pooled thread
(Django's own handler hops per middleware and starts a thread per request). With DEBUG
on, static files (the admin's CSS and JS) are served here too, as runserver would.
"""

import os

from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from yamlgraph_django.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()

# The LangGraph thread protocol over WebSocket (`ws://host/lg/threads/{id}/stream/events`).
from yamlgraph_django.protocol.websocket import thread_sockets  # noqa: E402

application = thread_sockets(application, prefix="/lg/")

if settings.DEBUG:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)
