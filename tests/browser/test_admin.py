"""A person who has never seen the project starts, follows and answers a session in the
admin, in a real browser, without reading JSON."""

from __future__ import annotations

from typing import Any

from yamlgraph_django import services
from yamlgraph_django.models import Session, SessionStatus


def current_nodes(page: Any) -> list[str]:
    """The nodes the session page's picture marks as where the session is."""
    return page.eval_on_selector_all(
        "svg.yamlgraph-diagram g.node.current", "nodes => nodes.map(n => n.dataset.node)"
    )


def status_shown(page: Any) -> str:
    return page.inner_text(".field-status_badge .yamlgraph-status").strip().lower()


def test_the_graph_page_draws_the_graph(page, graphs):
    page.goto(f"/admin/yamlgraph_django/graphdefinition/{graphs['approval'].pk}/change/")

    svg = page.locator("svg.yamlgraph-diagram")
    assert svg.count() == 1
    drawn = page.eval_on_selector_all(
        "svg.yamlgraph-diagram g.node", "nodes => nodes.map(n => [n.dataset.node, n.dataset.type])"
    )
    assert sorted(drawn) == sorted(
        [
            ["START", "start"],
            ["assess", "python"],
            ["ask_approver", "interrupt"],
            ["record_approved", "passthrough"],
            ["auto_approve", "passthrough"],
            ["END", "end"],
        ]
    )
    assert svg.bounding_box()["height"] > 200  # a picture, not a line of text
    fills = page.eval_on_selector_all(
        "svg.yamlgraph-diagram g.node rect", "rects => rects.map(r => r.getAttribute('fill'))"
    )
    assert len(set(fills)) >= 4  # coloured by type


def test_start_answer_with_a_choice_and_follow_the_session_to_its_end(page, tmp_path):
    page.goto("/admin/yamlgraph_django/session/")
    page.click("text=Start session")
    page.click("a[data-graph=approval]")

    # An empty form is refused field by field, and nothing starts.
    page.click("input[type=submit][value=Start]")
    assert "This field is required." in page.inner_text(".field-state_amount")
    assert "This field is required." in page.inner_text(".field-state_requester")
    assert not Session.objects.exists()

    page.fill("#id_state_amount", "250")
    page.fill("#id_state_requester", "Grace")
    page.click("input[type=submit][value=Start]")

    page.wait_for_selector(".field-status_badge")
    assert status_shown(page) == "interrupted"
    assert current_nodes(page) == ["ask_approver"]
    page.screenshot(path=str(tmp_path / "waiting.png"), full_page=True)
    assert "Approve Grace's expense of 250.0?" in page.inner_text("body")

    page.click(".object-tools a.yamlgraph-resume")
    assert page.locator("input[type=radio], textarea").count() == 0  # buttons, not a text box
    page.click("button.yamlgraph-choice:text-is('yes')")

    page.wait_for_selector(".field-status_badge")
    assert status_shown(page) == "completed"
    assert current_nodes(page) == ["END"]
    session = Session.objects.get()
    assert session.status == SessionStatus.COMPLETED
    assert session.output["approved"] is True
    runs = page.inner_text(".field-runs_table")
    assert "Approve Grace's expense of 250.0? → yes" in runs  # the answer with its question


def test_an_empty_answer_is_refused_where_one_is_required(page, graphs):
    session = services.start_session("interview")
    page.goto(f"/admin/yamlgraph_django/session/{session.pk}/resume/")

    page.click("input[type=submit][value=Resume]")

    assert "an answer is required" in page.inner_text(".errorlist") or (
        "This field is required." in page.inner_text(".errorlist")
    )
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED


def test_cancel_asks_for_confirmation(page, graphs):
    session = services.start_session("interview")
    page.goto(f"/admin/yamlgraph_django/session/{session.pk}/change/")
    assert current_nodes(page) == ["ask_name"]

    page.click(".object-tools a.yamlgraph-cancel")
    assert "Cancel this session?" in page.inner_text("#content")
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED  # asking changed nothing

    page.click("input[type=submit].yamlgraph-confirm-cancel")

    page.wait_for_selector(".field-status_badge")
    assert status_shown(page) == "cancelled"
    session.refresh_from_db()
    assert session.status == SessionStatus.CANCELLED


def test_the_bottom_buttons_line_up(page, graphs, tmp_path):
    session = services.start_session("interview")
    page.goto(f"/admin/yamlgraph_django/session/{session.pk}/change/")

    boxes = [
        page.locator(f".yamlgraph-submit-row {selector}").bounding_box()
        for selector in ("a.yamlgraph-resume", "a.yamlgraph-cancel", "a.closelink", "a.deletelink")
    ]

    assert len({round(box["y"]) for box in boxes}) == 1, boxes
    assert len({round(box["height"]) for box in boxes}) == 1, boxes
    page.locator(".yamlgraph-submit-row").screenshot(path=str(tmp_path / "buttons.png"))
