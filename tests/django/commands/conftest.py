"""Fixtures for the management command tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def stored_thread_ids(yamlgraph_settings: dict[str, Any]) -> Callable[[], set[str]]:
    """stored_thread_ids() -> thread ids with rows in the SQLite checkpoint file."""
    path = Path(yamlgraph_settings["DEFAULT_CHECKPOINTER"]["path"])

    def read() -> set[str]:
        if not path.exists():
            return set()
        with closing(sqlite3.connect(path)) as conn:
            rows = conn.execute(
                "SELECT thread_id FROM checkpoints UNION SELECT thread_id FROM writes"
            ).fetchall()
        return {row[0] for row in rows}

    return read
