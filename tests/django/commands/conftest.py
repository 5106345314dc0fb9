"""Fixtures for the management command tests (the shared ones are in tests/django/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def stored_thread_ids(stored_threads: Callable[[], set[str]]) -> Callable[[], set[str]]:
    """stored_thread_ids() -> thread ids with rows in the SQLite checkpoint file."""
    return stored_threads
