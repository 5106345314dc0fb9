"""The OpenAPI document: valid OpenAPI 3, served with an offline Swagger UI, and true to
the API. Schemathesis generates requests from it against the WSGI app (in process, no
network) and checks that nothing answers 500 and every answer matches the document."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_document_validates_without_warnings(tmp_path: Path):
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    document = yaml.safe_load(target.read_text())
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) >= {
        "/api/graphs/",
        "/api/graphs/{name}/",
        "/api/sessions/",
        "/api/sessions/{id}/",
        "/api/sessions/{id}/resume/",
        "/api/sessions/{id}/cancel/",
        "/api/sessions/{id}/history/",
    }
    resume = document["paths"]["/api/sessions/{id}/resume/"]["post"]["responses"]
    assert set(resume) == {"200", "202", "400", "401", "404", "409", "413", "503"}
    assert document["components"]["securitySchemes"]["tokenAuth"]["in"] == "header"


def test_schema_and_docs_are_served_without_internet(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "yamlgraph-django API"
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn.jsdelivr" not in page and "unpkg.com" not in page
    assert "/api/schema/" in page


@contextmanager
def keeping_the_test_connection() -> Iterator[None]:
    """Requests through the raw WSGI app without losing the test's database connection.

    A WSGI request ends with `close_old_connections`, which would close the connection
    holding the test's transaction; Django's test client disconnects it the same way
    (and reconnects it after each of its own requests, so no test client calls inside).
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_target(api, alice, start) -> dict[str, Any]:
    """A live session of alice's to aim at, and her token header."""
    session = start("interview")
    return {
        "session_id": session["id"],
        "headers": {"Authorization": api._credentials["HTTP_AUTHORIZATION"]},
    }


def test_generated_requests_never_break_the_api(fuzz_target):
    with keeping_the_test_connection():
        tried = fuzz_every_operation(fuzz_target["session_id"], fuzz_target["headers"])

    assert len([label for label in tried if "(positive)" in label]) == 9, tried
    assert {label for label in tried if "(negative)" in label} >= {
        "GET /api/sessions/ (negative)",
        "POST /api/sessions/ (negative)",
        "POST /api/sessions/{id}/resume/ (negative)",
        "GET /api/sessions/{id}/history/ (negative)",
    }, tried


def fuzz_every_operation(session_id: str, headers: dict[str, str]) -> list[str]:
    """Per operation, EXAMPLES_PER_OPERATION requests that fit the document and as many
    that break it (wrong types, missing fields): all must answer as documented, never
    500. Operations on one session aim at a live one, so they get past the 404."""
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    tried: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation, mode in itertools.product(operations, GenerationMode):
        path_parameters = {}
        if "{id}" in operation.path:
            path_parameters = {"id": session_id}

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=operation.as_strategy(
                generation_mode=mode, path_parameters=path_parameters or None
            )
        )
        def check(case: Any) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            check()
        except Unsatisfiable:
            # Nothing about this operation can be made invalid (GET /api/graphs/ has no
            # parameters or body); only the negative pass may find that.
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        tried.append(f"{operation.label} ({mode.value})")
    return tried
