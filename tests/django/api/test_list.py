"""GET /api/sessions/: filters, pagination, and a cost per page that does not grow with
the number of sessions (rows only; the checkpointer is never read for a list)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from yamlgraph_django.models import Session, SessionStatus

pytestmark = pytest.mark.django_db


def make_sessions(graphs: dict[str, Any], owner: Any, count: int, **fields: Any) -> list[Session]:
    """Rows as the service leaves them (no graph run: the list reads rows only)."""
    defaults = {
        "graph": graphs["interview"],
        "owner": owner,
        "status": SessionStatus.INTERRUPTED,
        "interrupts": [{"id": "i1", "value": "Hi! What is your name?"}],
    }
    sessions = []
    for _ in range(count):
        session = Session(**{**defaults, **fields})
        session.thread_id = str(session.id)
        sessions.append(session)
    return Session.objects.bulk_create(sessions)


def ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_rows_carry_the_pending_question_but_not_the_live_state(api, start):
    session = start("interview", {"topic": "Django"})
    done = start("support-router", {"message": "refund"})

    rows = {row["id"]: row for row in api.get("/api/sessions/").json()["results"]}

    assert rows[session["id"]]["interrupts"] == session["interrupts"]
    assert rows[session["id"]]["values"] is None  # not completed: no stored output
    assert "next" not in rows[session["id"]]
    assert rows[done["id"]]["values"]["reply"] == "Billing will contact you about: refund"


def test_filters(api, alice, graphs, start):
    interview = start("interview", metadata={"ticket": 42, "team": "web", "urgent": True})
    other = start("interview", metadata={"ticket": "42x", "team": "ops", "urgent": False})
    done = start("support-router", {"message": "hi"}, metadata={"ticket": "42"})

    assert ids(api.get("/api/sessions/", {"status": "completed"})) == {done["id"]}
    assert ids(api.get("/api/sessions/", {"status": "interrupted"})) == {
        interview["id"],
        other["id"],
    }
    assert ids(api.get("/api/sessions/", {"graph": "support-router"})) == {done["id"]}
    assert ids(api.get("/api/sessions/", {"graph": "nope"})) == set()
    # A query-string value matches the number and the string it spells.
    assert ids(api.get("/api/sessions/", {"metadata__ticket": "42"})) == {
        interview["id"],
        done["id"],
    }
    assert ids(api.get("/api/sessions/", {"metadata__team": "ops"})) == {other["id"]}
    assert ids(api.get("/api/sessions/", {"metadata__urgent": "true"})) == {interview["id"]}
    assert ids(api.get("/api/sessions/", {"metadata__urgent": "false"})) == {other["id"]}
    assert ids(api.get("/api/sessions/", {"metadata__team": "web", "status": "interrupted"})) == {
        interview["id"]
    }
    assert ids(api.get("/api/sessions/", {"metadata__missing": "x"})) == set()
    assert ids(api.get("/api/sessions/", {"metadata__ticket": "9" * 40})) == set()
    # Repeating a key matches any of its values.
    assert ids(api.get("/api/sessions/?metadata__team=web&metadata__team=ops")) == {
        interview["id"],
        other["id"],
    }
    # Keys that look like Django lookups are just keys.
    assert ids(api.get("/api/sessions/", {"metadata__contains": "x"})) == set()
    assert ids(api.get("/api/sessions/", {"metadata__team__icontains": "w"})) == set()


def test_date_filters(api, alice, graphs):
    old = make_sessions(graphs, alice, 1)[0]
    new = make_sessions(graphs, alice, 1)[0]
    Session.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    cutoff = (timezone.now() - dt.timedelta(days=1)).isoformat()

    assert ids(api.get("/api/sessions/", {"created_after": cutoff})) == {str(new.pk)}
    assert ids(api.get("/api/sessions/", {"created_before": cutoff})) == {str(old.pk)}


def test_any_iso_offset_works_and_out_of_range_dates_are_400(api, start):
    session = start("interview")

    # +17:46 is valid ISO 8601 but beyond what PostgreSQL accepts: converted to UTC first.
    far_east = api.get("/api/sessions/", {"created_after": "2000-01-01T00:00:00+17:46"})
    overflow = api.get("/api/sessions/", {"created_before": "9999-12-31T23:59:59-08:00"})

    assert ids(far_east) == {session["id"]}
    assert overflow.status_code == 400
    assert "created_before" in overflow.json()["errors"]


def test_nul_characters_in_the_query_are_400(api):
    response = api.get("/api/sessions/", {"graph": "a\x00b"})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["graph"]


@pytest.mark.parametrize(
    "query", [{"status": "sleeping"}, {"created_after": "yesterday"}, {"page": 99}]
)
def test_bad_filters_are_4xx_naming_the_problem(api, query):
    response = api.get("/api/sessions/", query)

    body = response.json()
    if "page" in query:
        assert (response.status_code, body["code"]) == (404, "not_found")
        assert "Invalid page" in body["detail"]
    else:
        assert (response.status_code, body["code"]) == (400, "invalid_input")
        assert list(body["errors"]) == list(query)


def test_pages_are_newest_first(api, alice, graphs):
    sessions = make_sessions(graphs, alice, 30)
    for index, session in enumerate(sessions):
        Session.objects.filter(pk=session.pk).update(
            created_at=timezone.now() - dt.timedelta(minutes=index)
        )

    first = api.get("/api/sessions/").json()
    second = api.get("/api/sessions/", {"page": 2}).json()
    small = api.get("/api/sessions/", {"page_size": 5}).json()

    assert first["count"] == 30 and len(first["results"]) == 25 and second["next"] is None
    assert [r["id"] for r in first["results"] + second["results"]] == [str(s.pk) for s in sessions]
    assert len(small["results"]) == 5 and "page_size=5" in small["next"]


def queries_for_a_page(api: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = api.get("/api/sessions/", {"page_size": 100})
    assert response.status_code == 200
    return len(captured)


def test_a_page_costs_the_same_queries_for_10_or_50_sessions(
    api, alice, graphs, django_assert_max_num_queries
):
    # token + user, the user's and groups' permissions (may they see all?), COUNT, the page
    # with its graphs and owners joined.
    make_sessions(graphs, alice, 10)
    with django_assert_max_num_queries(5):
        assert len(api.get("/api/sessions/", {"page_size": 100}).json()["results"]) == 10
    ten = queries_for_a_page(api)

    make_sessions(graphs, alice, 40, status=SessionStatus.COMPLETED, output={"a": 1})
    with django_assert_max_num_queries(5):
        assert len(api.get("/api/sessions/", {"page_size": 100}).json()["results"]) == 50

    assert queries_for_a_page(api) == ten
