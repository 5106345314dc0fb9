"""The reference project's settings, on the database the parent test process names.

The parent passes ``DATABASES["default"]`` as JSON in YAMLGRAPH_TEST_DATABASE
(the Postgres test database, or a migrated SQLite file), so a graph run in a
subprocess reads and writes the same checkpoint tables as the test.
"""

import json
import os

from project.settings import *  # noqa: F403

DATABASES = {"default": json.loads(os.environ["YAMLGRAPH_TEST_DATABASE"])}
