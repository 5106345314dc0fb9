"""`app_settings`: the YAMLGRAPH dict with defaults, imports and reload on change."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from yamlgraph_django import permissions
from yamlgraph_django.conf import DEFAULTS, app_settings


def test_defaults_fill_what_the_project_leaves_out():
    with override_settings(YAMLGRAPH={}):
        assert app_settings.RUN_MODE == "sync"
        assert app_settings.CHECKPOINTER_OVERRIDE is None
        assert app_settings.SESSION_TTL_MINUTES is None
        assert app_settings.SYNC_ON_STARTUP is True
        assert app_settings.GRAPH_DIRS == []
        assert DEFAULTS["DEFAULT_CHECKPOINTER"] == app_settings.DEFAULT_CHECKPOINTER


def test_the_project_settings_are_read():
    assert settings.YAMLGRAPH["GRAPH_DIRS"] == app_settings.GRAPH_DIRS
    assert app_settings.DEFAULT_CHECKPOINTER["type"] == "sqlite"
    assert app_settings.DEFAULT_CHECKPOINTER["path"].endswith("checkpoints.sqlite3")


def test_override_settings_is_seen_immediately_and_undone_after():
    assert app_settings.RUN_MODE == "sync"  # cached now
    with override_settings(YAMLGRAPH={"RUN_MODE": "background"}):
        assert app_settings.RUN_MODE == "background"
    assert app_settings.RUN_MODE == "sync"


def test_changing_the_setting_reloads(settings):
    assert app_settings.SESSION_TTL_MINUTES is None
    settings.YAMLGRAPH = {**settings.YAMLGRAPH, "SESSION_TTL_MINUTES": 30}
    assert app_settings.SESSION_TTL_MINUTES == 30


def test_dotted_paths_are_imported():
    assert app_settings.SESSION_ACCESS is permissions.owner_or_staff
    with override_settings(YAMLGRAPH={"LLM_FACTORY": "yamlgraph_django.permissions.can_see_all"}):
        assert app_settings.LLM_FACTORY is permissions.can_see_all


def test_a_bad_dotted_path_fails_loudly():
    with (
        override_settings(YAMLGRAPH={"SESSION_ACCESS": "nowhere.at_all"}),
        pytest.raises(ImportError),
    ):
        app_settings.SESSION_ACCESS  # noqa: B018


def test_unknown_names_are_an_error_not_a_silent_none():
    with pytest.raises(AttributeError, match="Invalid YAMLGRAPH setting: 'GRAPHS_DIR'"):
        app_settings.GRAPHS_DIR  # noqa: B018
