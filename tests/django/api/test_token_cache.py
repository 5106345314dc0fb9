"""The token lookup is cheap: a known token is not read again, a revoked one is refused.

DRF token authentication reads the token and its user on every request; the app keeps
what it found per process for TOKEN_CACHE_SECONDS (api.authentication), and drops it
the moment the token or its user is saved or deleted.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def token_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "authtoken_token" in q["sql"]]


def test_a_known_token_is_read_once_per_process(api: Any) -> None:
    assert api.get("/api/graphs/").status_code == 200

    with CaptureQueriesContext(connection) as captured:
        again = api.get("/api/graphs/")

    assert again.status_code == 200
    assert token_queries(captured) == []


def test_the_protocol_door_shares_the_cache(api: Any) -> None:
    api.get("/api/graphs/")
    with CaptureQueriesContext(connection) as captured:
        assert api.post("/lg/assistants/search", {}, format="json").status_code == 200
    assert token_queries(captured) == []


def test_a_deleted_token_is_refused_at_once(api: Any, alice: Any) -> None:
    assert api.get("/api/graphs/").status_code == 200
    Token.objects.filter(user=alice).get().delete()

    assert api.get("/api/graphs/").status_code == 401


def test_a_deactivated_user_is_refused_at_once(api: Any, alice: Any) -> None:
    assert api.get("/api/graphs/").status_code == 200
    alice.is_active = False
    alice.save()

    assert api.get("/api/graphs/").status_code == 401


def test_permissions_granted_after_the_first_request_count_on_the_next(
    api: Any, alice: Any, bob: Any, client_for: Any, start: Any
) -> None:
    """Each request gets its own copy of the cached user: Django's per-user permission
    cache does not carry over to the next request."""
    from django.contrib.auth.models import Permission

    session = start("interview", {"topic": "x"}, client=client_for(bob))
    assert api.get(f"/api/sessions/{session['id']}/").status_code == 404
    alice.user_permissions.add(Permission.objects.get(codename="view_all_sessions"))

    assert api.get(f"/api/sessions/{session['id']}/").status_code == 200


@override_settings(YAMLGRAPH={"TOKEN_CACHE_SECONDS": 0})
def test_a_ttl_of_zero_reads_the_token_each_time(api: Any) -> None:
    api.get("/api/graphs/")
    with CaptureQueriesContext(connection) as captured:
        api.get("/api/graphs/")
    assert len(token_queries(captured)) == 1
