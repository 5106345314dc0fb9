"""What a person who has never seen the project meets in the admin: the graph as a
picture, where a session is, a typed start form, choices as buttons, answers that must
be given, times to the second, answers next to their question, one message per reload,
and a Retry button for a failed session."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from tests.django.admin.conftest import messages_of, url
from yamlgraph_django import registry, services
from yamlgraph_django.models import Session, SessionStatus

pytestmark = pytest.mark.django_db


def drawn_nodes(page: str) -> dict[str, str]:
    """data-node -> its class attribute, for every node of the page's picture."""
    return {
        name: classes
        for classes, name in re.findall(r'<g class="(node[^"]*)" data-node="([^"]+)"', page)
    }


def current(page: str) -> list[str]:
    return [name for name, classes in drawn_nodes(page).items() if " current" in classes]


# --------------------------------------------------------------------------- pictures


def test_the_graph_page_draws_every_node_coloured_by_type(admin_client, graphs):
    page = admin_client.get(url("graphdefinition_change", graphs["approval"].pk)).content.decode()

    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="yamlgraph-diagram"') == 1
    nodes = drawn_nodes(page)
    assert set(nodes) == {
        "START",
        "assess",
        "ask_approver",
        "record_approved",
        "auto_approve",
        "END",
    }
    assert "node-interrupt" in nodes["ask_approver"] and "node-python" in nodes["assess"]
    assert "<script" not in page.split("yamlgraph-diagram")[1].split("</svg>")[0]  # offline
    assert "state.risk == &#x27;low&#x27;" in page  # the condition on its arrow


def test_the_session_page_marks_where_the_session_waits_then_ends(admin_client, start):
    session = start("interview")
    assert current(admin_client.get(url("session_change", session.pk)).content.decode()) == [
        "ask_name"
    ]

    services.resume_session(session, "Ada")
    page = admin_client.get(url("session_change", session.pk)).content.decode()
    assert current(page) == ["ask_goal"]
    assert 'class="node node-interrupt current waiting"' in page

    services.resume_session(session, "win")
    assert current(admin_client.get(url("session_change", session.pk)).content.decode()) == ["END"]


def test_a_failed_session_marks_the_node_it_failed_at_and_offers_retry(
    admin_client, graphs, write_graph, graph_dir, tmp_path
):
    flag = tmp_path / "broken"
    flag.write_text("yes")
    (graph_dir / "tools" / "flaky.py").write_text(
        "from pathlib import Path\n"
        "def work(state):\n"
        f"    if Path({str(flag)!r}).exists():\n"
        "        raise RuntimeError('the service is down')\n"
        "    return {'result': 'done'}\n"
    )
    write_graph(
        graph_dir,
        "flaky.yaml",
        text="""
        version: "1.0"
        name: flaky
        state: {result: str}
        tools:
          work: {path: tools/flaky.py, function: work}
        nodes:
          work: {type: python, tool: work}
        edges:
          - {from: START, to: work}
          - {from: work, to: END}
        """,
    )
    registry.sync_graphs()
    session = services.start_session("flaky")
    assert session.status == SessionStatus.FAILED

    page = admin_client.get(url("session_change", session.pk)).content.decode()
    assert current(page) == ["work"]
    assert 'class="node node-python current failed"' in page
    assert url("session_retry", session.pk) in page  # the Retry button

    flag.unlink()  # the service is back
    response = admin_client.post(url("session_retry", session.pk), follow=True)

    assert any("Retried. It has completed." in m for m in messages_of(response))
    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED
    assert session.output["result"] == "done"


def test_retry_is_only_offered_for_failed_sessions_and_is_post_only(admin_client, start):
    session = start("interview")
    page = admin_client.get(url("session_change", session.pk)).content.decode()
    assert url("session_retry", session.pk) not in page
    assert admin_client.get(url("session_retry", session.pk)).status_code == 405
    response = admin_client.post(url("session_retry", session.pk), follow=True)
    assert any("Nothing was changed" in m for m in messages_of(response))
    assert Session.objects.get(pk=session.pk).status == SessionStatus.INTERRUPTED


# --------------------------------------------------------------------------- start form


def test_the_start_form_has_the_graphs_typed_fields(admin_client, graphs):
    response = admin_client.get(url("session_start") + "?graph=approval")

    form = response.context["form"]
    assert form.fields["state_amount"].__class__.__name__ == "FloatField"
    assert form.fields["state_amount"].required and form.fields["state_requester"].required
    assert not form.fields["state_risk"].required
    page = response.content.decode()
    assert '{"topic": "billing"}' not in page  # no hint from another graph
    assert "Required: the graph cannot start without it." in page

    interview = admin_client.get(url("session_start") + "?graph=interview").context["form"]
    assert interview.fields["state_topic"].initial == "your project"  # the declared default
    assert "Leave empty for the default" in str(interview.fields["state_topic"].help_text)


def test_an_approval_without_amount_or_requester_does_not_start(admin_client, graphs):
    response = admin_client.post(url("session_start"), {"graph": "approval", "input": "{}"})

    errors = response.context["form"].errors
    assert errors["state_amount"] == ["This field is required."]
    assert errors["state_requester"] == ["This field is required."]
    assert not Session.objects.exists()

    via_json = admin_client.post(
        url("session_start"), {"graph": "approval", "input": '{"amount": 5}'}
    )
    # The service refuses too (the JSON box bypasses the typed fields' own check).
    assert not Session.objects.exists()
    assert via_json.context["form"].errors["state_requester"]


def test_the_service_refuses_a_start_without_a_required_field(graphs):
    from yamlgraph_django.exceptions import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        services.start_session("approval", {})

    assert set(caught.value.errors) == {"amount", "requester"}
    assert not Session.objects.exists()


def test_typed_fields_start_the_session_with_typed_values(admin_client, admin_user, graphs):
    response = admin_client.post(
        url("session_start"),
        {"graph": "approval", "state_amount": "250.5", "state_requester": "Grace", "input": ""},
        follow=True,
    )

    session = Session.objects.get()
    assert response.redirect_chain[-1][0] == url("session_change", session.pk)
    assert session.input == {"amount": 250.5, "requester": "Grace"}
    assert session.status == SessionStatus.INTERRUPTED


# --------------------------------------------------------------------------- answering


def resume_data(client: Client, session: Session) -> dict[str, Any]:
    form = client.get(url("session_resume", session.pk)).context["form"]
    return {"interrupt_ids": form["interrupt_ids"].value()}


def test_choices_are_buttons_that_answer(admin_client, start):
    session = start("approval", {"amount": 500.0, "requester": "Bob"})
    page = admin_client.get(url("session_resume", session.pk)).content.decode()
    assert page.count('class="button default yamlgraph-choice"') == 2
    assert "<textarea" not in page

    admin_client.post(
        url("session_resume", session.pk),
        {**resume_data(admin_client, session), "answer_0": '"no"'},
    )

    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED
    assert session.output["approved"] is False


def test_an_answer_outside_the_choices_is_refused_and_changes_nothing(admin_client, start):
    session = start("approval", {"amount": 500.0, "requester": "Bob"})

    response = admin_client.post(
        url("session_resume", session.pk),
        {**resume_data(admin_client, session), "answer_0": '"maybe"'},
    )

    assert response.context["form"].errors["answer_0"]
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert session.runs.count() == 1


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_answer_to_a_required_question_is_refused(admin_client, start, text):
    session = start("interview")
    page = admin_client.get(url("session_resume", session.pk)).content.decode()
    assert "An answer is required." in page

    response = admin_client.post(
        url("session_resume", session.pk), {**resume_data(admin_client, session), "answer_0": text}
    )

    assert response.context["form"].errors["answer_0"]
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED
    assert session.runs.count() == 1  # no "Summary: Grace wants to ."


# --------------------------------------------------------------------------- session page


def test_times_have_seconds_and_runs_have_durations(admin_client, start):
    session = start("interview")
    services.resume_session(session, "Ada", channel="admin")

    page = admin_client.get(url("session_change", session.pk)).content.decode()

    created = session.created_at.strftime("%Y-%m-%d %H:%M:%S")
    assert created in page
    assert "so far" in page  # the run time of a session still going
    runs = page.split("field-runs_table")[1]
    assert re.search(r"<td>\d+\.\d s</td>", runs)  # each run's duration
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", runs)


def test_runs_show_each_answer_with_its_question(admin_client, start):
    session = start("interview")
    question_id = session.interrupts[0]["id"]
    services.resume_session(session, values={question_id: "Ada"}, channel="admin")

    page = admin_client.get(url("session_change", session.pk)).content.decode()
    runs = page.split("field-runs_table")[1]

    assert "Hi! What is your name?</span> &rarr; <strong>Ada</strong>" in runs
    assert question_id not in runs


def test_a_pending_structured_question_reads_as_text(admin_client, start):
    session = start("approval", {"amount": 500.0, "requester": "Bob"})

    page = admin_client.get(url("session_change", session.pk)).content.decode()
    pending = page.split("field-pending_interrupts")[1].split("</fieldset>")[0]

    assert "Approve Bob&#x27;s expense of 500.0?" in pending
    assert "risk: high" in pending and "1) yes" in pending and "2) no" in pending
    assert "&quot;" not in pending


def test_one_message_per_reload(admin_client, graphs, graph_dir, write_graph):
    write_graph(graph_dir, "extra.yaml", name="extra")

    response = admin_client.post(url("graphdefinition_reload"), follow=True)

    shown = messages_of(response)
    assert len(shown) == 1, shown
    assert shown[0].startswith("Reloaded from disk: 5 graph files: 1 added, 0 updated, 4 unchanged")
    assert "added extra v1" in shown[0]

    again = messages_of(admin_client.post(url("graphdefinition_reload"), follow=True))
    assert again == ["No changes: 5 graphs are up to date."]
