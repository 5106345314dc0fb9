"""System checks of running it in production: a webhook secret when webhooks are in
use, a warning under `check --deploy` while runs wait without a worker, and every
unsafe setting named; and `check --deploy` of the reference project with DEBUG=0."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.test import override_settings
from django.utils import timezone

from yamlgraph_django.models import Run, RunKind, RunStatus, Session, WorkerHeartbeat

ROOT = Path(__file__).resolve().parents[2]


def ids(*, deploy: bool = False, databases: list[str] | None = None) -> set[str]:
    return {
        m.id
        for m in run_checks(
            tags=["yamlgraph"], include_deployment_checks=deploy, databases=databases
        )
    }


@pytest.mark.django_db
def test_e010_webhooks_in_use_without_a_secret(yamlgraph_settings, synced_graphs):
    Session.objects.create(
        thread_id="t", graph=synced_graphs["interview"], webhook="https://hooks.example.com/x"
    )
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "WEBHOOK_SECRET": ""}):
        assert "yamlgraph.E010" in ids(databases=["default"])
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "WEBHOOK_SECRET": "k"}):
        assert "yamlgraph.E010" not in ids(databases=["default"])


@pytest.mark.django_db
def test_w010_queued_runs_without_a_worker_under_deploy(yamlgraph_settings, synced_graphs):
    session = Session.objects.create(thread_id="t", graph=synced_graphs["interview"])
    Run.objects.create(session=session, kind=RunKind.START, channel="api", status=RunStatus.QUEUED)

    assert "yamlgraph.W010" not in ids()  # plain `check` never asks
    assert "yamlgraph.W010" in ids(deploy=True)
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="w", started_at=now, seen_at=now)
    assert "yamlgraph.W010" not in ids(deploy=True)
    WorkerHeartbeat.objects.filter(worker_id="w").update(seen_at=now - dt.timedelta(hours=1))
    assert "yamlgraph.W010" in ids(deploy=True)


def test_each_unsafe_setting_is_named_under_deploy(yamlgraph_settings):
    unsafe = {
        **yamlgraph_settings,
        "ALLOW_ANONYMOUS": True,
        "WEBHOOK_ALLOW_PRIVATE": True,
        "THROTTLE_RATES": {"start": None, "resume": "10/min"},
        "WEBHOOK_REQUIRE_HTTPS": False,
        "WEBHOOK_SECRET": "",
    }
    with override_settings(
        YAMLGRAPH=unsafe,
        CORS_ALLOW_ALL_ORIGINS=True,
        CORS_ALLOWED_ORIGINS=["http://app.example.com"],
        DEBUG=False,
    ):
        found = ids(deploy=True)
        plain = ids()
    assert {f"yamlgraph.W{n:03d}" for n in (11, 12, 13, 14, 15, 16, 18)} <= found
    assert not plain & {f"yamlgraph.W{n:03d}" for n in range(11, 17)}
    safe = {**yamlgraph_settings, "WEBHOOK_SECRET": "k"}
    with override_settings(YAMLGRAPH=safe, CORS_ALLOWED_ORIGINS=["https://app.example.com"]):
        assert not ids(deploy=True) & {f"yamlgraph.W{n:03d}" for n in range(11, 19)}


def test_check_deploy_of_the_reference_project_names_every_unsafe_setting(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YAMLGRAPH_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    env.update(DJANGO_DEBUG="0", DJANGO_SETTINGS_MODULE="project.settings")
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = done.stderr + done.stdout
    assert "Traceback" not in out
    for finding in (
        "security.W009",  # the demo SECRET_KEY
        "security.W004",  # no HSTS
        "security.W008",  # no SSL redirect
        "security.W012",  # session cookie not secure
        "security.W016",  # CSRF cookie not secure
        "yamlgraph.W016",  # no webhook secret
        "yamlgraph.W018",  # CORS for agent-chat-ui's http://localhost:3000
    ):
        assert finding in out, out
