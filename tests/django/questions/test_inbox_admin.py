"""The admin's inbox: "Waiting for me" with answer buttons, Claim/Release, Reassign, the
archive, the count on the admin index and who must answer on the session page."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from yamlgraph_django import services
from yamlgraph_django.models import Question, Session, SessionStatus

pytestmark = pytest.mark.django_db(transaction=True)


def staff_client(user: Any) -> Client:
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:yamlgraph_django_question_{name}", args=args)


def test_a_finance_member_answers_from_the_inbox_and_the_archive_shows_it(
    expense: Session, people: dict[str, Any]
):
    client = staff_client(people["member"])
    question = Question.objects.get(session=expense)

    index = client.get(reverse("admin:index")).content.decode()
    assert "1 question waits for you" in index
    page = client.get(url("inbox")).content.decode()
    assert "Approve requester&#x27;s expense of 120.0?" in page
    assert page.count('class="button default yamlgraph-choice"') == 2
    assert f'id="question-{question.pk}"' in page

    answered = client.post(url("answer", question.pk), {"choice": json.dumps("yes")})

    assert answered.status_code == 302
    expense.refresh_from_db()
    assert expense.status == SessionStatus.COMPLETED
    assert expense.output["decision"] == "yes"
    assert "0 questions wait for you" in client.get(reverse("admin:index")).content.decode()
    archive = client.get(url("answered")).content.decode()
    assert "Approve requester&#x27;s expense of 120.0?" in archive
    run = expense.runs.get(kind="resume")
    assert (run.actor, run.channel) == (people["member"], "admin")


def test_the_requester_sees_it_but_cannot_approve_their_own_expense(expense, people):
    client = staff_client(people["requester"])
    question = Question.objects.get(session=expense)

    response = client.post(url("answer", question.pk), {"choice": json.dumps("yes")}, follow=True)

    assert "the session&#x27;s owner may not answer it" in response.content.decode()
    expense.refresh_from_db()
    assert expense.status == SessionStatus.INTERRUPTED


def test_a_typed_answer_field_when_there_are_no_choices(graphs, people):
    session = services.start_session("failing", {}, owner=people["requester"])
    manager = people["manager"]
    question = Question.objects.get(session=session)
    client = staff_client(manager)

    page = client.get(url("inbox")).content.decode()
    assert 'name="answer"' in page and 'class="button default yamlgraph-choice"' not in page
    client.post(url("answer", question.pk), {"answer": "signed"})

    session.refresh_from_db()
    assert (session.status, session.output["decision"]) == ("completed", "signed")


def test_claim_release_and_reassign_from_the_inbox(expense, people):
    member, manager = staff_client(people["member"]), staff_client(people["manager"])
    question = Question.objects.get(session=expense)

    member.post(url("claim", question.pk))
    assert "Claimed by member" in manager.get(url("inbox")).content.decode()
    refused = manager.post(url("answer", question.pk), {"choice": '"no"'}, follow=True)
    assert "claimed by member" in refused.content.decode()
    member.post(url("release", question.pk))
    manager.post(url("reassign", question.pk), {"kind": "group", "to": "finance-leads"})

    question.refresh_from_db()
    assert [g.name for g in question.groups.all()] == ["finance-leads"]
    assert "Nothing waits for you." in member.get(url("inbox")).content.decode()
    lead = staff_client(people["lead"])
    assert f'id="question-{question.pk}"' in lead.get(url("inbox")).content.decode()
    assert list(question.events.values_list("kind", "actor__username")) == [
        ("assigned", None),
        ("claimed", "member"),
        ("released", "member"),
        ("reassigned", "manager"),
    ]


def test_the_session_page_says_who_must_answer(expense, people):
    owner = people["requester"]
    owner.user_permissions.add(
        Permission.objects.get(content_type__app_label="yamlgraph_django", codename="view_session")
    )
    client = staff_client(owner)

    page = client.get(reverse("admin:yamlgraph_django_session_change", args=[expense.pk]))

    text = page.content.decode()
    assert "who must answer" in text.lower()
    assert "user manager; group finance (not the owner)" in text


def test_overdue_questions_are_marked(graphs, people):
    services.start_session("deadline", {}, owner=people["requester"])
    Question.objects.update(due_at="2000-01-01T00:00:00Z")

    page = staff_client(people["member"]).get(url("inbox")).content.decode()

    assert 'class="question overdue' in page
    assert "overdue" in page


def test_make_runs_demo_user_finds_an_approval_in_the_finance_inbox(graphs, django_user_model):
    """The newcomer's path: `make run` creates the demo superuser in the `finance` group;
    an approval it starts waits in its inbox with buttons; answered there, the session
    completes and the archive shows who decided."""
    from django.core.management import call_command

    call_command("ensure_demo_superuser", "--force", stdout=io.StringIO())
    demo = django_user_model.objects.get(username="admin")
    assert list(demo.groups.values_list("name", flat=True)) == ["finance"]
    session = services.start_session("approval", {"amount": 500.0, "requester": "Bob"}, owner=demo)
    client = Client()
    client.force_login(demo)
    page = client.get(url("inbox")).content.decode()
    question = Question.objects.get(session=session)
    assert f'id="question-{question.pk}"' in page
    assert page.count('class="button default yamlgraph-choice"') == 2

    client.post(url("answer", question.pk), {"choice": '"yes"'})

    session.refresh_from_db()
    assert (session.status, session.output["approved"]) == (SessionStatus.COMPLETED, True)
    archive = client.get(url("answered")).content.decode()
    assert f'id="question-{question.pk}"' in archive


def test_cancel_and_delete_settle_the_questions(expense, people):
    question = Question.objects.get(session=expense)

    services.cancel_session(expense)

    question.refresh_from_db()
    assert question.status == "cancelled"
    services.delete_session(expense)
    assert not Question.objects.filter(pk=question.pk).exists()


def test_an_assignee_without_model_permissions_opens_and_answers_the_session(expense, people):
    client = staff_client(people["member"])  # staff, in finance, no permissions at all

    page = client.get(reverse("admin:yamlgraph_django_session_change", args=[expense.pk]))
    assert page.status_code == 200
    resume = reverse("admin:yamlgraph_django_session_resume", args=[expense.pk])
    ids = client.get(resume).context["form"]["interrupt_ids"].value()
    client.post(resume, {"interrupt_ids": ids, "answer_0": '"yes"'})

    expense.refresh_from_db()
    assert expense.status == SessionStatus.COMPLETED
    # Answered: nothing waits for them there any more.
    later = client.get(reverse("admin:yamlgraph_django_session_change", args=[expense.pk]))
    assert later.status_code in (302, 403)
    outsider = staff_client(people["outsider"])
    assert outsider.get(reverse("admin:yamlgraph_django_session_changelist")).status_code == 403
