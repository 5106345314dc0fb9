"""The OpenAPI document: valid OpenAPI 3, served with an offline Swagger UI. That the API
keeps to it is tested with schemathesis in test_schemathesis.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


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
    assert set(resume) == {"200", "202", "400", "401", "404", "409", "413", "429", "503"}
    assert "/api/health/" in document["paths"]
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
