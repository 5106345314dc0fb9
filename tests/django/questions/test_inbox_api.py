"""The inbox through the API and /lg/: who sees which questions, claim, release and
reassign, what an assignee may read, and a constant number of queries per page."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.django.questions.conftest import api_client
from yamlgraph_django import services
from yamlgraph_django.models import Question, Session

pytestmark = pytest.mark.django_db(transaction=True)


def inbox(user: Any, query: str = "") -> list[dict[str, Any]]:
    response = api_client(user).get(f"/api/inbox/{query}")
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("member", True),  # in finance
        ("manager", True),  # named by the state
        ("requester", True),  # in finance; may not answer (exclude_owner), but is told
        ("outsider", False),
        ("lead", False),
        ("overrider", False),  # may answer anything, but nothing waits for them
    ],
)
def test_who_sees_the_question_in_their_inbox(who, sees, expense: Session, people):
    listed = inbox(people[who])

    assert [q["session"] for q in listed] == ([str(expense.pk)] if sees else [])
    if sees:
        question = listed[0]
        assert question["text"] == "Approve requester's expense of 120.0?"
        assert question["assignees"] == {
            "users": ["manager"],
            "groups": ["finance"],
            "permission": None,
        }
        assert question["mine"] is (who == "manager")
        assert question["value"]["choices"] == ["yes", "no"]


def test_an_assignee_reads_the_session_but_cannot_cancel_or_delete_it(expense, people):
    member = api_client(people["member"])

    assert member.get(f"/api/sessions/{expense.pk}/").status_code == 200
    # The rulebook: a session the caller sees but may not act on is a 403.
    assert member.post(f"/api/sessions/{expense.pk}/cancel/").status_code == 403
    assert member.delete(f"/api/sessions/{expense.pk}/").status_code == 403
    assert api_client(people["outsider"]).get(f"/api/sessions/{expense.pk}/").status_code == 404
    expense.refresh_from_db()
    assert expense.status == "interrupted"


def test_once_answered_the_assignee_no_longer_sees_the_session(expense, people):
    member = api_client(people["member"])
    assert (
        member.post(
            f"/api/sessions/{expense.pk}/resume/", {"value": "yes"}, format="json"
        ).status_code
        == 200
    )

    assert inbox(people["member"]) == []
    assert member.get(f"/api/sessions/{expense.pk}/").status_code == 404
    question = api_client(people["requester"]).get(
        f"/api/questions/{Question.objects.get(session=expense).pk}/"
    )
    assert question.json()["answered_by"] == "member"  # the owner sees who decided


def test_claim_holds_others_off_until_release(expense, people):
    question = Question.objects.get(session=expense)
    member, manager = api_client(people["member"]), api_client(people["manager"])

    claimed = member.post(f"/api/questions/{question.pk}/claim/")
    assert claimed.status_code == 200
    assert claimed.json()["claimed_by"] == "member"
    assert inbox(people["member"])[0]["mine"] is True  # claimed: listed first
    assert manager.post(f"/api/questions/{question.pk}/claim/").status_code == 400
    refused = manager.post(f"/api/sessions/{expense.pk}/resume/", {"value": "no"}, format="json")
    assert refused.status_code == 403
    assert "claimed by member" in refused.json()["detail"]
    assert manager.post(f"/api/questions/{question.pk}/release/").status_code == 403
    assert (
        api_client(people["outsider"]).post(f"/api/questions/{question.pk}/claim/").status_code
        == 404
    )

    assert member.post(f"/api/questions/{question.pk}/release/").json()["claimed_by"] is None
    answered = manager.post(f"/api/sessions/{expense.pk}/resume/", {"value": "no"}, format="json")
    assert answered.status_code == 200
    kinds = list(question.events.values_list("kind", "actor__username"))
    assert kinds == [
        ("assigned", None),
        ("claimed", "member"),
        ("released", "member"),
        ("answered", "manager"),
    ]


def test_reassign_hands_the_question_to_others_and_is_recorded(expense, people):
    question = Question.objects.get(session=expense)
    member = api_client(people["member"])

    unknown = member.post(
        f"/api/questions/{question.pk}/reassign/", {"groups": ["nobody"]}, format="json"
    )
    assert unknown.status_code == 400
    assert "nobody" in unknown.json()["detail"]
    moved = member.post(
        f"/api/questions/{question.pk}/reassign/", {"groups": ["finance-leads"]}, format="json"
    )

    assert moved.status_code == 200
    assert moved.json()["assignees"]["groups"] == ["finance-leads"]
    assert inbox(people["member"]) == []
    assert [q["id"] for q in inbox(people["lead"])] == [question.pk]
    event = question.events.get(kind="reassigned")
    assert (event.actor, event.detail) == (
        people["member"],
        {"users": [], "groups": ["finance-leads"]},
    )
    # Only the new assignees answer now.
    assert (
        member.post(
            f"/api/sessions/{expense.pk}/resume/", {"value": "yes"}, format="json"
        ).status_code
        == 404
    )
    assert (
        api_client(people["lead"])
        .post(f"/api/sessions/{expense.pk}/resume/", {"value": "yes"}, format="json")
        .status_code
        == 200
    )


def test_inbox_filters(graphs, people):
    first = services.start_session(
        "expense",
        {"amount": 1.0, "requester": "x", "manager": "manager"},
        owner=people["requester"],
    )
    services.start_session("deadline", {}, owner=people["requester"])
    Question.objects.filter(session=first).update(claimed_by=people["member"])

    assert [q["graph"] for q in inbox(people["member"], "?graph=deadline")] == ["deadline"]
    assert [q["graph"] for q in inbox(people["member"], "?claimed=true")] == ["expense"]
    assert [q["graph"] for q in inbox(people["member"], "?claimed=false")] == ["deadline"]
    assert inbox(people["member"], "?overdue=true") == []
    Question.objects.filter(graph_name="deadline").update(due_at="2000-01-01T00:00:00Z")
    overdue = inbox(people["member"], "?overdue=true")
    assert [(q["graph"], q["overdue"]) for q in overdue] == [("deadline", True)]
    assert api_client(people["member"]).get("/api/inbox/?overdue=maybe").status_code == 400


def test_the_inbox_costs_the_same_for_one_question_and_for_twenty(graphs, people):
    client = api_client(people["member"])

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/inbox/").status_code == 200
        return len(queries)

    count()  # the token is read once per process (then cached): count warm requests
    services.start_session(
        "expense", {"amount": 1.0, "requester": "x", "manager": "manager"}, owner=people["lead"]
    )
    one = count()
    for index in range(19):
        services.start_session(
            "expense",
            {"amount": float(index), "requester": "x", "manager": "manager"},
            owner=people["lead"],
        )
    assert len(inbox(people["member"])) == 20
    assert count() == one


def test_lg_thread_search_lists_the_threads_an_assignee_must_answer(expense, people):
    def search(user: Any) -> list[dict[str, Any]]:
        response = api_client(user).post("/lg/threads/search", {}, format="json")
        assert response.status_code == 200
        return response.json()

    found = search(people["member"])

    assert [t["thread_id"] for t in found] == [expense.thread_id]
    assert found[0]["status"] == "interrupted"
    assert found[0]["interrupts"]
    assert search(people["outsider"]) == []
    # The thread is theirs to answer, not to delete (they see it: a 403, as on the API).
    member = api_client(people["member"])
    assert member.delete(f"/lg/threads/{expense.thread_id}").status_code == 403
    assert member.get(f"/lg/threads/{expense.thread_id}/state").status_code == 200
