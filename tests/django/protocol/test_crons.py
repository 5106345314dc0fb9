"""Crons with the real Python SDK (`client.crons`): create on a thread or stateless,
search, count, update, delete; bad schedules and timezones refused by name; a due
cron fired once by the worker's tick (a compare-and-set on next_run_at), on the
thread or on a new thread; the admin lists and edits schedules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from httpx import HTTPStatusError

from yamlgraph_django.models import Run, Session
from yamlgraph_django.services import crons as cron_service
from yamlgraph_django.store_models import Cron


def test_cron_lifecycle_with_the_python_sdk(sdk: Any, bob: Any, sync_client_for: Any) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    on_thread = sdk.crons.create_for_thread(
        thread_id, "interview", schedule="*/5 * * * *", input={"topic": "standup"}
    )
    assert on_thread["thread_id"] == thread_id and on_thread["schedule"] == "*/5 * * * *"
    assert on_thread["payload"]["input"] == {"topic": "standup"}
    next_run = dt.datetime.fromisoformat(on_thread["next_run_date"])
    assert next_run > timezone.now() and next_run.minute % 5 == 0

    end = timezone.now() + dt.timedelta(days=2)
    stateless = sdk.crons.create(
        "interview",
        schedule="0 9 * * *",
        timezone="Europe/Oslo",
        end_time=end,
        metadata={"team": "core"},
    )
    assert stateless["thread_id"] is None and stateless["timezone"] == "Europe/Oslo"
    oslo = dt.datetime.fromisoformat(stateless["next_run_date"]).astimezone(
        dt.timezone(dt.timedelta(hours=1))  # Oslo in December: UTC+1
    )
    assert (oslo.hour, oslo.minute) == (9, 0)

    assert sdk.crons.count() == 2
    assert sdk.crons.count(thread_id=thread_id) == 1
    found = sdk.crons.search(assistant_id="interview", metadata={"team": "core"})
    assert [c["cron_id"] for c in found] == [stateless["cron_id"]]

    updated = sdk.crons.update(stateless["cron_id"], schedule="30 7 * * 1", enabled=False)
    assert updated["schedule"] == "30 7 * * 1" and updated["enabled"] is False
    assert updated["next_run_date"] is None  # disabled: never due
    assert sdk.crons.search(enabled=True)[0]["cron_id"] == on_thread["cron_id"]

    other = sync_client_for(bob)
    assert other.crons.count() == 0  # someone else's crons are invisible
    with pytest.raises(HTTPStatusError) as hidden:
        other.crons.delete(on_thread["cron_id"])
    assert hidden.value.response.status_code == 404

    sdk.crons.delete(on_thread["cron_id"])
    assert sdk.crons.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedule": "every monday"}, "schedule"),
        ({"schedule": "* * * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"schedule": "* * * * *", "end_time": "soon"}, "end_time"),
    ],
)
def test_bad_cron_fields_are_named(sdk: Any, body: dict, field: str) -> None:
    with pytest.raises(HTTPStatusError) as refused:
        sdk.http.post("/runs/crons", json={"assistant_id": "interview", **body})
    assert refused.value.response.status_code == 400
    assert field in refused.value.response.text


def test_a_due_cron_fires_once(sdk: Any, alice: Any) -> None:
    thread_id = sdk.threads.create()["thread_id"]
    made = sdk.crons.create_for_thread(thread_id, "interview", schedule="* * * * *")
    stateless = sdk.crons.create("interview", schedule="* * * * *", on_run_completed="keep")
    due = timezone.now() - dt.timedelta(seconds=1)
    Cron.objects.update(next_run_at=due)

    assert cron_service.fire_due() == 2
    assert cron_service.fire_due() == 0  # the occurrence is taken; the next is a minute away
    session = Session.objects.get(thread_id=thread_id)
    assert session.status == "interrupted"  # the run asked the interview's first question
    run = Run.objects.get(session=session)
    assert run.actor == alice
    cron = Cron.objects.get(pk=made["cron_id"])
    assert cron.last_run_at is not None and cron.next_run_at > timezone.now()
    fresh = Session.objects.filter(metadata__cron_id=stateless["cron_id"])
    assert fresh.count() == 1 and fresh.get().owner == alice


def test_past_end_time_stops_the_cron(sdk: Any) -> None:
    made = sdk.crons.create(
        "interview", schedule="* * * * *", end_time=timezone.now() + dt.timedelta(seconds=30)
    )
    Cron.objects.update(next_run_at=timezone.now() - dt.timedelta(seconds=1))
    assert cron_service.fire_due(timezone.now() + dt.timedelta(minutes=1)) == 1
    assert Cron.objects.get(pk=made["cron_id"]).next_run_at is None


def test_admin_lists_and_edits_schedules(sdk: Any, make_user: Any) -> None:
    made = sdk.crons.create("interview", schedule="0 9 * * *")
    admin_user = make_user("root", staff=True)
    admin_user.is_superuser = True
    admin_user.save()
    browser = Client()
    browser.force_login(admin_user)
    listed = browser.get("/admin/yamlgraph_django/cron/")
    assert listed.status_code == 200 and "0 9 * * *" in listed.content.decode()

    page = f"/admin/yamlgraph_django/cron/{made['cron_id']}/change/"
    form = {
        "graph_name": "interview",
        "schedule": "bad cron",
        "timezone": "UTC",
        "enabled": "on",
        "payload": "{}",
        "metadata": "{}",
        "on_run_completed": "delete",
    }
    refused = browser.post(page, form)
    assert refused.status_code == 200 and "not a cron schedule" in refused.content.decode()
    saved = browser.post(page, {**form, "schedule": "15 6 * * *"})
    assert saved.status_code == 302
    cron = Cron.objects.get(pk=made["cron_id"])
    assert cron.schedule == "15 6 * * *"
    assert (cron.next_run_at.hour, cron.next_run_at.minute) == (6, 15)
