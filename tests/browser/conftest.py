"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

The browser is /usr/bin/chromium (`make browser` installs it; never `playwright
install`), started headless with no network of its own. The server is the reference
project in this process, on a free port, with the example graphs copied to a temporary
directory and checkpoints in a temporary SQLite file.
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
from django.test import override_settings
from rest_framework.authtoken.models import Token

from yamlgraph_django import registry

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_GRAPHS = Path(__file__).resolve().parents[2] / "graphs"
#: The React pages (page.jsx, chat.jsx) and their npm packages (package.json + lock).
REACT = Path(__file__).resolve().parent / "react"
REACT_HTML = """<!doctype html><html><body><div id="root"></div>
<script>window.LG = {config};</script>
<script type="module" src="/react-page/{name}.js"></script></body></html>"""
TASKS_MODULE = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
PASSWORD = "browser-test-password"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def graphs(transactional_db: None, tmp_path: Path, settings: Any) -> Iterator[dict[str, Any]]:
    """The example graphs registered, with checkpoints in this test's SQLite file."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    graph_dir = tmp_path / "graphs"
    shutil.copytree(REPO_GRAPHS, graph_dir)
    value = {
        **getattr(settings, "YAMLGRAPH", {}),
        "GRAPH_DIRS": [graph_dir],
        "DEFAULT_CHECKPOINTER": {"type": "sqlite", "path": str(tmp_path / "checkpoints.sqlite3")},
        "CHECKPOINTER_OVERRIDE": None,
    }
    registry.reset()
    with override_settings(YAMLGRAPH=value):
        report = registry.sync_graphs()
        assert report.ok, str(report)
        yield report.definitions
    registry.reset()


@pytest.fixture
def page(
    live_server: Any,
    graphs: dict[str, Any],
    django_user_model: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """A logged-in admin's browser tab on the live server.

    Playwright's sync API runs an event loop in this thread, which Django takes for an
    async context; the test's own ORM calls are plain synchronous code, so they are
    allowed for the length of the test (DJANGO_ALLOW_ASYNC_UNSAFE).
    """
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed: `make browser` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    django_user_model.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(20_000)
        tab = context.new_page()
        tab.goto("/admin/login/")
        tab.fill("#id_username", "admin")
        tab.fill("#id_password", PASSWORD)
        tab.click("input[type=submit]")
        tab.wait_for_selector("#user-tools")
        yield tab
        context.close()
        browser.close()


@pytest.fixture(scope="session")
def react_bundles() -> Path:
    """The React pages' bundles (dist/page.js, dist/chat.js), built with esbuild
    (`make js` runs npm ci in tests/browser/react first)."""
    npm = shutil.which("npm")
    if npm is None or not (REACT / "node_modules" / "@langchain" / "react").is_dir():
        pytest.skip("tests/browser/react/node_modules is missing: run `make js`")
    subprocess.run([npm, "run", "build"], cwd=REACT, check=True, capture_output=True)
    return REACT / "dist"


@pytest.fixture
def react_page(
    live_server: Any,
    graphs: Any,
    django_user_model: Any,
    react_bundles: Path,
    monkeypatch: Any,
    settings: Any,
) -> Iterator[Any]:
    """open(assistant_id, input, thread_id=None, page="page", **config) -> a tab showing
    a React page for `ada`, served from the live server's origin (Playwright answers its
    two URLs) so it talks to /lg/ like an app deployed beside the API. Runs started by
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
            assistant_id: str,
            graph_input: dict[str, Any] | None = None,
            thread_id: str | None = None,
            page: str = "page",
            **extra: Any,
        ) -> Any:
            config = {
                "apiUrl": f"{live_server.url}/lg",
                "token": token,
                "assistantId": assistant_id,
                "input": graph_input,
                "threadId": thread_id,
                **extra,
            }
            html = REACT_HTML.format(config=json.dumps(config), name=page)
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
                f"**/react-page/{page}.js",
                lambda route: route.fulfill(
                    path=str(react_bundles / f"{page}.js"), content_type="text/javascript"
                ),
            )
            tab.goto("/react-page/")
            tab.wait_for_selector("main")
            tab.errors = errors
            return tab

        open_page.user = user
        yield open_page
        context.close()
        browser.close()
