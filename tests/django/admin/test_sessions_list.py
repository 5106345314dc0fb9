"""The sessions list: badges, questions, run counts, filters, search, constant queries."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.django.admin.conftest import url
from yamlgraph_django.models import Run, RunChannel, RunKind, Session, SessionStatus

pytestmark = pytest.mark.django_db


def listed(response: Any) -> list[Session]:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.mark.parametrize("who", ["admin_client", "viewer_client"])
def test_list_shows_status_graph_owner_question_and_runs(request, who, start, admin_user):
    client = request.getfixturevalue(who)
    session = start("interview", owner=admin_user)

    response = client.get(url("session_changelist"))

    assert [s.pk for s in listed(response)] == [session.pk]
    page = response.content.decode()
    assert "yamlgraph-status-interrupted" in page  # the coloured badge
    assert "interview v1" in page
    assert "Hi! What is your name?" in page
    assert ">admin<" in page  # the owner
    assert listed(response)[0].run_count_on_page == 1


def test_long_questions_are_shortened(admin_client, graphs, write_graph, graph_dir):
    from yamlgraph_django import registry, services

    write_graph(graph_dir, "long.yaml", name="long", question="Why? " + "really " * 40)
    registry.sync_graphs()
    services.start_session("long")

    page = admin_client.get(url("session_changelist")).content.decode()

    assert "Why? really really" in page
    assert "really " * 40 not in page
    assert "…" in page


def test_filters_by_status_and_graph(admin_client, start):
    interview = start("interview")
    approval = start("approval", {"amount": 5000.0, "requester": "Bob"})
    done = start("approval", {"amount": 5.0, "requester": "Amy"})  # small: auto-approved
    assert done.status == SessionStatus.COMPLETED

    by_status = admin_client.get(url("session_changelist") + "?status__exact=completed")
    by_graph = admin_client.get(url("session_changelist") + "?graph=approval")
    by_version = admin_client.get(
        url("session_changelist") + f"?graph__id__exact={interview.graph_id}"
    )

    assert [s.pk for s in listed(by_status)] == [done.pk]
    assert {s.pk for s in listed(by_graph)} == {approval.pk, done.pk}
    assert [s.pk for s in listed(by_version)] == [interview.pk]


def test_filters_by_dates_and_date_hierarchy(admin_client, start):
    old = start("interview")
    new = start("interview")
    long_ago = timezone.now() - dt.timedelta(days=400)
    Session.objects.filter(pk=old.pk).update(created_at=long_ago)

    page = admin_client.get(url("session_changelist"))
    created_filter = next(
        spec
        for spec in page.context["cl"].filter_specs
        if getattr(spec, "field_path", None) == "created_at"
    )
    past_7_days = next(
        choice["query_string"]
        for choice in created_filter.choices(page.context["cl"])
        if str(choice["display"]) == "Past 7 days"
    )
    past_week = admin_client.get(url("session_changelist") + past_7_days)
    by_year = admin_client.get(url("session_changelist") + f"?created_at__year={long_ago.year}")

    assert [s.pk for s in listed(past_week)] == [new.pk]
    assert [s.pk for s in listed(by_year)] == [old.pk]


def test_search_by_id_thread_owner_and_metadata(admin_client, start, admin_user, viewer):
    mine = start("interview", owner=admin_user, metadata={"customer": "acme-42"})
    theirs = start("interview", owner=viewer, thread_id="ticket-9001")

    def search(term: str) -> set:
        return {s.pk for s in listed(admin_client.get(url("session_changelist"), {"q": term}))}

    assert search(str(mine.pk)) == {mine.pk}
    assert search("ticket-9001") == {theirs.pk}
    assert search("viewer") == {theirs.pk}
    assert search("customer=acme-42") == {mine.pk}
    assert search("customer=acme") == set()  # exact values: each search uses an index
    assert search("nothing-like-this") == set()


def make_sessions(count: int, graph: Any, owners: list[Any]) -> None:
    """`count` sessions with owners and two runs each, written directly: the list page
    reads only rows, and starting 100 real sessions would only slow the test down."""
    first = Session.objects.count()
    sessions = Session.objects.bulk_create(
        [
            Session(
                thread_id=f"bulk-{first + i}",
                graph=graph,
                owner=owners[i % len(owners)],
                status=SessionStatus.INTERRUPTED,
                interrupts=[{"id": f"i{i}", "value": {"question": f"Question {first + i}?"}}],
                metadata={"n": i},
            )
            for i in range(count)
        ]
    )
    Run.objects.bulk_create(
        [
            Run(session=s, kind=kind, actor=s.owner, channel=RunChannel.ADMIN)
            for s in sessions
            for kind in (RunKind.START, RunKind.RESUME)
        ]
    )


def count_queries(client: Any, path: str) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return len(queries), response


@pytest.mark.parametrize("path", ["", "?status__exact=interrupted&graph=interview"])
def test_queries_per_page_do_not_grow_with_the_number_of_sessions(
    admin_client, graphs, admin_user, viewer, django_assert_max_num_queries, path
):
    owners = [admin_user, viewer, None]
    page = url("session_changelist") + path
    make_sessions(10, graphs["interview"], owners)
    admin_client.get(page)  # warm up: session, user and content types are cached after this
    ten, response = count_queries(admin_client, page)
    assert len(listed(response)) == 10

    make_sessions(90, graphs["interview"], owners)
    with django_assert_max_num_queries(ten):
        response = admin_client.get(page)
    assert len(listed(response)) == 25  # list_per_page
    assert {s.run_count_on_page for s in listed(response)} == {2}
    assert "Question 99?" in response.content.decode()
