"""The reference project's settings for a worker the questions tests start: the test's
database, graphs, checkpoint file and SMTP server, handed over as JSON in
YAMLGRAPH_TEST_WORKER (what an operator would put in the environment)."""

import json
import os

from project.settings import *  # noqa: F403

_given = json.loads(os.environ["YAMLGRAPH_TEST_WORKER"])
DATABASES = {"default": _given["database"]}
YAMLGRAPH = {**YAMLGRAPH, **_given["yamlgraph"]}  # noqa: F405
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST, EMAIL_PORT = "127.0.0.1", _given["smtp_port"]
