"""Deadlines on a real worker: `manage.py yamlgraph worker` (django-tasks-db's db_worker
and the crash sweeper) in its own process, on the test's database, sending its e-mail to
a real SMTP server (aiosmtpd) in this process.

- `deadline` (due 2s, remind_before 1s, on_timeout: assign finance-leads): reminded,
  timed out and handed on, by tasks scheduled with `run_after`, each step audited and
  mailed; the assignment mail goes out when the question is asked.
- `auto` (due 1s, on_timeout: answer "no"): answered by the system.
- `failing` (due 1s, on_timeout: fail): asked while no worker could be scheduled, past
  due when the worker starts; its sweeper applies the deadline at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.db import connections
from django.test import override_settings

from tests.servers import free_port
from yamlgraph_django import services
from yamlgraph_django.models import Question, RunChannel, Session, SessionStatus
from yamlgraph_django.signals import question_assigned

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[3]
DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


class Mailbox:
    """aiosmtpd handler: keeps every message it is sent as (to, subject, body)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.original_content or envelope.content)
        body = mail.get_payload(decode=True).decode()
        for to in envelope.rcpt_tos:
            self.messages.append((to, str(mail["Subject"]), body))
        return "250 OK"

    def subjects_to(self, address: str) -> list[str]:
        return [subject for to, subject, _ in self.messages if to == address]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


def start_worker(yamlgraph_settings: dict[str, Any], smtp_port: int, log: Path) -> Any:
    """`manage.py yamlgraph worker` on the test database, in its own process group."""
    database = connections["default"].settings_dict
    given = {
        "database": {"ENGINE": database["ENGINE"], "NAME": str(database["NAME"])}
        if database["ENGINE"].endswith("sqlite3")
        else {k: database[k] for k in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")},
        "yamlgraph": {
            "GRAPH_DIRS": [str(p) for p in yamlgraph_settings["GRAPH_DIRS"]],
            "DEFAULT_CHECKPOINTER": yamlgraph_settings["DEFAULT_CHECKPOINTER"],
            "SITE_URL": "http://inbox.example",
        },
        "smtp_port": smtp_port,
    }
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.django.questions.worker_settings",
        "YAMLGRAPH_TEST_WORKER": json.dumps(given, default=str),
        "PYTHONPATH": str(REPO),
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "yamlgraph", "worker", "--sweep-seconds", "60"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for(condition: Any, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen in {timeout}s; worker log:\n{log.read_text()}")


def test_deadlines_remind_hand_on_answer_and_fail_on_a_real_worker(
    graphs, people, smtp, yamlgraph_settings, tmp_path, settings
):
    mailbox, port = smtp
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    heard: list[Any] = []
    question_assigned.connect(lambda sender, question, **kw: heard.append(question.pk), weak=False)
    owner = people["requester"]

    # Asked while the immediate backend runs tasks: nothing can be scheduled for later.
    failing = services.start_session("failing", {}, owner=owner)
    assert mailbox.subjects_to("manager@example.com") == [
        "[failing] A question waits for you: Sign the contract?"
    ]
    time.sleep(1.2)  # `failing` is past due now, with no worker running

    log = tmp_path / "worker.log"
    worker = start_worker(yamlgraph_settings, port, log)
    try:
        wait_for(
            lambda: Session.objects.get(pk=failing.pk).status == SessionStatus.FAILED,
            30,
            "the sweeper failing the session whose deadline passed without a worker",
            log,
        )
        # The worker runs: these deadlines are tasks scheduled with run_after (its
        # sweeper only sweeps again in a minute).
        site = {**yamlgraph_settings, "SITE_URL": "http://inbox.example"}
        with override_settings(TASKS=DATABASE_QUEUE, YAMLGRAPH=site):
            invoice = services.start_session("deadline", {}, owner=owner)
            auto = services.start_session("auto", {}, owner=owner)
        question = Question.objects.get(session=invoice)
        assert len(heard) == 3  # question_assigned, once per question
        assert mailbox.subjects_to("member@example.com") == [
            "[deadline] A question waits for you: Approve the invoice?",
            "[auto] A question waits for you: Keep the subscription?",
        ]
        body = next(
            b for to, s, b in mailbox.messages if "invoice" in s and to == "member@example.com"
        )
        link = f"http://inbox.example/admin/yamlgraph_django/question/inbox/#question-{question.pk}"
        assert link in body
        assert "requester@example.com" in {to for to, _, _ in mailbox.messages}

        wait_for(
            lambda: Session.objects.get(pk=auto.pk).status == SessionStatus.COMPLETED,
            20,
            "the system answering `auto`",
            log,
        )
        wait_for(
            lambda: Question.objects.get(pk=question.pk).escalation_step == 1,
            20,
            "`deadline` handed on",
            log,
        )
        wait_for(lambda: mailbox.subjects_to("lead@example.com"), 10, "the hand-on e-mail", log)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)

    failing.refresh_from_db()
    assert failing.error == "timed out: nobody signed in time"
    assert Question.objects.get(session=failing).status == "timed_out"

    auto.refresh_from_db()
    assert auto.output["decision"] == "no"
    answer = auto.runs.get(kind="resume")
    assert (answer.actor, answer.channel) == (None, RunChannel.TASK)  # the system
    assert Question.objects.get(session=auto).status == "timed_out"

    question.refresh_from_db()
    assert question.status == "open" and question.reminded_at is not None
    assert [g.name for g in question.groups.all()] == ["finance-leads"]
    assert list(question.events.values_list("kind", "actor")) == [
        ("assigned", None),
        ("reminded", None),
        ("timed_out", None),
        ("reassigned", None),
    ]
    assert mailbox.subjects_to("lead@example.com") == [
        "[deadline] Handed to you: Approve the invoice?"
    ]
    reminders = [s for s in mailbox.subjects_to("member@example.com") if "Due soon" in s]
    assert reminders == ["[deadline] Due soon: Approve the invoice?"]
    invoice.refresh_from_db()
    assert invoice.status == SessionStatus.INTERRUPTED  # still waiting, for the leads now
