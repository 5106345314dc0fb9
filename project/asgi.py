"""ASGI entry point: `uvicorn project.asgi:application` (what `make run` starts).

Under ASGI an idle event-stream client costs no worker thread. With DEBUG on, static
files (the admin's CSS and JS) are served here too, as runserver would.
"""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
application = get_asgi_application()

if settings.DEBUG:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)
