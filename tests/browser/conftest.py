"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

The browser is /usr/bin/chromium (`make browser` installs it; never `playwright
install`), started headless with no network of its own. The server is the reference
project in this process, on a free port, with the example graphs copied to a temporary
directory and checkpoints in a temporary SQLite file.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

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
