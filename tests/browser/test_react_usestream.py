"""`useStream` of `@langchain/react` 1.1 (the current React hook, on the thread-scoped
protocol: `/threads/{id}/commands` and `/threads/{id}/stream/events`) in Chromium: a
small page (tests/browser/react/page.jsx, bundled with esbuild) drives the interview to
its end, and the approval graph's question, answering each question from the page.

The page is served from the live server's origin (Playwright answers its two URLs), so
it talks to /lg/ like an app deployed beside the API.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from yamlgraph_django.models import Session

REACT = Path(__file__).resolve().parent / "react"
BUNDLE = REACT / "dist" / "page.js"
HTML = """<!doctype html><html><body><div id="root"></div>
<script>window.LG = {config};</script>
<script type="module" src="/react-page/page.js"></script></body></html>"""


@pytest.fixture(scope="module")
def bundle() -> Path:
    """The page's bundle, built from page.jsx (npm ci in tests/browser/react first)."""
    npm = shutil.which("npm")
    if npm is None or not (REACT / "node_modules" / "@langchain" / "react").is_dir():
        pytest.skip("tests/browser/react/node_modules is missing: run `make js`")
    subprocess.run([npm, "run", "build"], cwd=REACT, check=True, capture_output=True)
    return BUNDLE


TASKS_MODULE = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"


@pytest.fixture
def react_page(
    live_server: Any,
    graphs: Any,
    django_user_model: Any,
    bundle: Path,
    monkeypatch: Any,
    settings: Any,
) -> Iterator[Any]:
    """open(assistant_id, input) -> a tab showing the page for `ada`. Runs started by
    the page run at once in the server (Django's immediate task backend: no worker)."""
    settings.TASKS = {"default": {"BACKEND": f"{TASKS_MODULE}.backends.immediate.ImmediateBackend"}}
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed: `make browser` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user = django_user_model.objects.create_user("ada")
    # The approval example asks the finance group (issue 20): ada is in it, so she answers.
    Group.objects.get_or_create(name="finance")[0].user_set.add(user)
    token = Token.objects.create(user=user).key
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(30_000)

        def open_page(
            assistant_id: str, graph_input: dict[str, Any], thread_id: str | None = None
        ) -> Any:
            config = {
                "apiUrl": f"{live_server.url}/lg",
                "token": token,
                "assistantId": assistant_id,
                "input": graph_input,
                "threadId": thread_id,
            }
            html = HTML.format(config=json.dumps(config))
            tab = context.new_page()
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.requests = []
            tab.on(
                "response",
                lambda r: tab.requests.append(
                    f"{r.request.method} {r.url} {r.status} {r.request.post_data}"
                ),
            )
            tab.on("console", lambda m: tab.requests.append(f"console {m.type}: {m.text}"))
            tab.route(
                "**/react-page/", lambda route: route.fulfill(body=html, content_type="text/html")
            )
            tab.route(
                "**/react-page/page.js",
                lambda route: route.fulfill(path=str(bundle), content_type="text/javascript"),
            )
            tab.goto("/react-page/")
            tab.wait_for_selector("#start")
            tab.errors = errors
            return tab

        open_page.user = user
        yield open_page
        context.close()
        browser.close()


def answer(tab: Any, question: str, value: str) -> None:
    try:
        tab.wait_for_function(
            "q => document.querySelector('#question').textContent.includes(q)", arg=question
        )
    except Exception:
        raise AssertionError(
            "\n".join(tab.requests) + "\n" + tab.inner_html("main") + "\n" + str(tab.errors)
        ) from None
    tab.fill("#answer", value)
    tab.click("#respond")


def test_use_stream_drives_the_interview_to_its_end(react_page: Any) -> None:
    tab = react_page("interview", {"topic": "Django"})
    tab.click("#start")
    answer(tab, "Hi! What is your name?", "Ada")
    answer(tab, "Thanks Ada. What do you want to achieve with Django?", "ship it")
    tab.wait_for_function(
        "() => document.querySelector('#values').textContent.includes('Summary: Ada wants')"
    )
    values = json.loads(tab.text_content("#values"))
    assert values["summary"] == "Summary: Ada wants to ship it."
    assert tab.text_content("#question") == ""
    thread_id = tab.text_content("#thread")
    session = Session.objects.get(thread_id=thread_id)  # the id the page made up
    assert session.status == "completed" and session.owner.username == "ada"
    assert tab.errors == []


def test_use_stream_answers_the_approval_question(react_page: Any) -> None:
    tab = react_page("approval", {"amount": 2500, "requester": "Grace"})
    tab.click("#start")
    answer(tab, "Approve Grace's expense of 2500", "yes")
    tab.wait_for_function(
        "() => JSON.parse(document.querySelector('#values').textContent).decision === 'yes'"
    )
    thread_id = tab.text_content("#thread")
    tab.wait_for_function("() => document.querySelector('#loading').textContent === 'idle'")
    assert Session.objects.get(thread_id=thread_id).status == "completed"
    assert tab.errors == []


def test_use_stream_opens_a_waiting_thread_and_answers_it(react_page: Any) -> None:
    """A page opened on a thread that already waits (started elsewhere: the session
    service, as the admin or /api/ would) shows its question and takes the answer."""
    from yamlgraph_django.services import start_session

    session = start_session("interview", {"topic": "Django"}, owner=react_page.user)
    assert session.status == "interrupted"
    tab = react_page("interview", {}, session.thread_id)
    answer(tab, "Hi! What is your name?", "Ada")
    answer(tab, "Thanks Ada. What do you want to achieve with Django?", "ship it")
    tab.wait_for_function(
        "() => document.querySelector('#values').textContent.includes('Summary: Ada wants')"
    )
    session.refresh_from_db()
    assert session.status == "completed"
    assert tab.errors == []
