"""The graph registry: files on disk -> versioned GraphDefinition rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings

from yamlgraph_django import registry
from yamlgraph_django.exceptions import GraphNotFound, YamlgraphError
from yamlgraph_django.models import GraphDefinition
from yamlgraph_django.registry import SyncStatus, config_for, get_latest, sync_graphs

pytestmark = pytest.mark.django_db

EXAMPLES = {"interview", "approval", "support-router", "chat_assistant"}


def latest_versions(name: str) -> list[tuple[int, bool]]:
    return list(
        GraphDefinition.objects.filter(name=name)
        .order_by("version")
        .values_list("version", "is_latest")
    )


def question_of(definition: GraphDefinition) -> str:
    return config_for(definition).nodes["ask"].options["message"]


# --------------------------------------------------------------------------- registering


def test_sync_registers_every_example_graph_as_version_1(yamlgraph_settings, graph_dir):
    report = sync_graphs()

    assert report.ok, str(report)
    assert {entry.name for entry in report.added} == EXAMPLES
    rows = GraphDefinition.objects.all()
    assert {(d.name, d.version, d.is_latest) for d in rows} == {(n, 1, True) for n in EXAMPLES}
    interview = GraphDefinition.objects.get(name="interview")
    source = (graph_dir / "interview.yaml").read_text()
    assert interview.source == source
    assert interview.description.startswith("A short intake interview")
    assert interview.declared_version == "1.0"
    assert interview.path == str((graph_dir / "interview.yaml").resolve())
    assert len(interview.checksum) == 64
    assert "4 added, 0 updated, 0 unchanged, 0 invalid" in report.summary()


def test_prompt_files_and_yaml_without_nodes_are_not_graphs(
    yamlgraph_settings, graph_dir, write_graph
):
    write_graph(graph_dir, "compose.yaml", text="services:\n  web:\n    image: nginx\n")
    # Even a graph-shaped file inside prompts/ is skipped: that directory holds prompts.
    write_graph(graph_dir / "prompts", "looks_like_graph.yaml", name="hidden")

    report = sync_graphs()

    assert report.ok, str(report)
    assert {entry.name for entry in report.entries} == EXAMPLES
    assert not GraphDefinition.objects.filter(name="hidden").exists()


def test_nested_directories_and_yml_extension_are_scanned(
    yamlgraph_settings, graph_dir, write_graph
):
    write_graph(graph_dir / "team" / "hr", "onboarding.yml", name="onboarding")

    sync_graphs()

    assert GraphDefinition.objects.get(name="onboarding").version == 1


def test_unchanged_files_change_nothing(yamlgraph_settings):
    sync_graphs()
    before = list(
        GraphDefinition.objects.values_list("pk", "version", "is_latest", "registered_at")
    )

    report = sync_graphs()

    assert report.ok
    assert not report.changed
    assert {entry.name for entry in report.unchanged} == EXAMPLES
    after = list(GraphDefinition.objects.values_list("pk", "version", "is_latest", "registered_at"))
    assert after == before


def test_editing_a_file_creates_version_2_and_moves_latest(tmp_path, write_graph):
    path = write_graph(tmp_path, "demo.yaml", question="First question?")
    with override_settings(YAMLGRAPH={"GRAPH_DIRS": [tmp_path]}):
        sync_graphs()
        v1 = get_latest("demo")
        write_graph(tmp_path, "demo.yaml", question="Second question?")

        report = sync_graphs()

    assert [entry.describe() for entry in report.updated] == [
        f"updated demo: v1 -> v2 ({path.resolve()})"
    ]
    assert latest_versions("demo") == [(1, False), (2, True)]
    v2 = GraphDefinition.objects.get(name="demo", is_latest=True)
    assert question_of(v2) == "Second question?"
    v1.refresh_from_db()
    assert question_of(v1) == "First question?"  # sessions on v1 resume on v1's source


def test_reverting_a_file_makes_the_old_version_latest_again(tmp_path, write_graph):
    with override_settings(YAMLGRAPH={"GRAPH_DIRS": [tmp_path]}):
        write_graph(tmp_path, "demo.yaml", question="One?")
        sync_graphs()
        write_graph(tmp_path, "demo.yaml", question="Two?")
        sync_graphs()
        write_graph(tmp_path, "demo.yaml", question="One?")

        report = sync_graphs()

    assert [entry.status for entry in report.entries] == [SyncStatus.RESTORED]
    assert "v1 again" in report.entries[0].describe()
    assert latest_versions("demo") == [(1, True), (2, False)]


def test_moving_a_file_keeps_its_versions_and_points_them_all_at_the_new_place(
    tmp_path, write_graph
):
    old = write_graph(tmp_path / "a", "demo.yaml", question="One?")
    with override_settings(YAMLGRAPH={"GRAPH_DIRS": [tmp_path]}):
        sync_graphs()
        write_graph(tmp_path / "a", "demo.yaml", question="Two?")
        sync_graphs()
        new = tmp_path / "b" / "demo.yaml"
        new.parent.mkdir()
        shutil.move(old, new)

        report = sync_graphs()

    assert [entry.status for entry in report.entries] == [SyncStatus.UNCHANGED]
    assert set(GraphDefinition.objects.values_list("version", "path")) == {
        (1, str(new.resolve())),
        (2, str(new.resolve())),
    }
    # v1's sessions now resolve tools and prompts next to the file's new place.
    assert config_for(GraphDefinition.objects.get(version=1)).file == new.resolve()


def test_a_concurrent_registration_is_retried_not_raised(tmp_path, write_graph, monkeypatch):
    """Another process inserting the same row first makes our insert fail; sync retries."""
    write_graph(tmp_path, "demo.yaml")
    real_create = GraphDefinition.objects.create
    calls = []

    def create_after_a_rival(**fields):
        calls.append(fields["name"])
        if len(calls) == 1:  # the rival wins the race for version 1
            real_create(**{**fields, "is_latest": False})
        return real_create(**fields)

    monkeypatch.setattr(GraphDefinition.objects, "create", create_after_a_rival)

    report = sync_graphs([tmp_path])

    assert report.ok, str(report)
    assert len(calls) == 2
    assert latest_versions("demo") == [(1, True)]


def test_only_one_latest_row_per_name_is_possible():
    GraphDefinition.objects.create(name="x", version=1, checksum="a", source="", is_latest=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        GraphDefinition.objects.create(name="x", version=2, checksum="b", source="", is_latest=True)


def test_progress_is_called_for_each_file(yamlgraph_settings, graph_dir):
    seen: list[Path] = []

    sync_graphs(progress=seen.append)

    assert {p.name for p in seen} == {
        "approval.yaml",
        "chat_assistant.yaml",
        "interview.yaml",
        "support_router.yaml",
    }


def test_explicit_dirs_override_the_setting(yamlgraph_settings, tmp_path, write_graph):
    other = tmp_path / "elsewhere"
    write_graph(other, "demo.yaml")

    report = sync_graphs([other])

    assert [entry.name for entry in report.entries] == ["demo"]
    assert not GraphDefinition.objects.filter(name="interview").exists()


# --------------------------------------------------------------------------- broken files


def test_an_invalid_file_is_reported_and_the_others_still_register(
    yamlgraph_settings, graph_dir, write_graph
):
    bad = write_graph(
        graph_dir,
        "broken.yaml",
        text="""\
        name: broken
        nodes:
          ask:
            type: interupt
        edges:
          - {from: START, to: ask}
        """,
    )

    report = sync_graphs()

    assert not report.ok
    assert {entry.name for entry in report.added} == EXAMPLES
    [entry] = report.invalid
    assert entry.path == bad.resolve()
    text = str(report)
    assert f"{bad.resolve()}:4: nodes.ask.type: unknown node type 'interupt'" in text
    assert "did you mean 'interrupt'" in text
    assert not GraphDefinition.objects.filter(name="broken").exists()


def test_yaml_syntax_errors_are_reported_with_their_line(tmp_path, write_graph):
    write_graph(tmp_path, "bad.yaml", text="name: bad\nnodes:\n  a: [unclosed\n")

    report = sync_graphs([tmp_path])

    [entry] = report.invalid
    assert entry.issues[0].line is not None
    assert "invalid YAML" in entry.issues[0].message


def test_a_tool_that_crashes_on_import_is_reported_not_raised(tmp_path, write_graph):
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "boom.py").write_text("raise RuntimeError('no API key')\n")
    write_graph(
        tmp_path,
        "tooled.yaml",
        text="""\
        name: tooled
        tools:
          boom: {path: tools/boom.py, function: run}
        nodes:
          run: {type: python, tool: boom}
        edges:
          - {from: START, to: run}
          - {from: run, to: END}
        """,
    )
    write_graph(tmp_path, "fine.yaml", name="fine")

    report = sync_graphs([tmp_path])

    assert [entry.name for entry in report.added] == ["fine"]
    [entry] = report.invalid
    assert "no API key" in str(report)
    assert entry.path.name == "tooled.yaml"


def test_breaking_a_registered_file_keeps_its_last_good_version(tmp_path, write_graph):
    write_graph(tmp_path, "demo.yaml")
    sync_graphs([tmp_path])
    write_graph(tmp_path, "demo.yaml", text="name: demo\nnodes: {}\n")

    report = sync_graphs([tmp_path])

    assert len(report.invalid) == 1
    assert latest_versions("demo") == [(1, True)]


def test_two_files_with_the_same_name_are_an_error_not_an_overwrite(tmp_path, write_graph):
    first = write_graph(tmp_path, "demo.yaml", question="Original?")
    sync_graphs([tmp_path])
    copy = write_graph(tmp_path, "demo_copy.yaml", question="Copy?")

    report = sync_graphs([tmp_path])

    assert not report.ok
    assert report.duplicates == {"demo": [first.resolve(), copy.resolve()]}
    assert "duplicate graph name 'demo' declared by 2 files" in str(report)
    # The registered version is untouched until the conflict is resolved.
    assert latest_versions("demo") == [(1, True)]
    assert question_of(get_latest("demo")) == "Original?"


def test_a_missing_graph_dir_is_reported(tmp_path):
    report = sync_graphs([tmp_path / "nope"])

    assert report.missing_dirs == [tmp_path / "nope"]
    assert "graph directory does not exist" in str(report)


# --------------------------------------------------------------------------- deleted files


def test_a_deleted_file_keeps_its_definitions_and_still_compiles(yamlgraph_settings, graph_dir):
    sync_graphs()
    (graph_dir / "approval.yaml").unlink()

    report = sync_graphs()

    assert [d.name for d in report.orphaned] == ["approval"]
    assert "kept approval v1 although its file" in str(report)
    definition = get_latest("approval")
    # The stored source still resolves its tool (tools/approval.py is still there).
    config = config_for(definition)
    assert config.name == "approval"
    assert "assess_risk" in config.tools


# --------------------------------------------------------------------------- config_for


def test_config_for_parses_the_stored_source_not_the_file(tmp_path, write_graph):
    path = write_graph(tmp_path, "demo.yaml", question="Stored?")
    sync_graphs([tmp_path])
    write_graph(tmp_path, "demo.yaml", question="Edited on disk, not synced?")

    definition = GraphDefinition.objects.get(name="demo")
    config = config_for(definition)

    assert config.nodes["ask"].options["message"] == "Stored?"
    assert config.file == path.resolve()


def test_config_for_resolves_tools_and_prompts_next_to_the_stored_path(synced_graphs):
    approval = config_for(synced_graphs["approval"])
    interview = config_for(synced_graphs["interview"])

    assert approval.tools["assess_risk"].path.name == "approval.py"
    assert interview.nodes["summarize"].options["prompt"] == "summarize"


def test_config_for_is_cached_per_definition(synced_graphs):
    definition = synced_graphs["interview"]

    assert config_for(definition) is config_for(GraphDefinition.objects.get(pk=definition.pk))
    assert config_for(definition) is not config_for(synced_graphs["approval"])


# --------------------------------------------------------------------------- lookups


def test_get_latest_of_an_unknown_graph_is_a_404_error(synced_graphs):
    with pytest.raises(GraphNotFound) as caught:
        get_latest("nope")

    assert isinstance(caught.value, YamlgraphError)
    assert (caught.value.status_code, caught.value.code) == (404, "graph_not_found")
    assert "nope" in caught.value.detail


def test_latest_definitions_lists_one_row_per_name(yamlgraph_settings, graph_dir):
    sync_graphs()
    (graph_dir / "interview.yaml").write_text(
        (graph_dir / "interview.yaml").read_text().replace("two questions", "2 questions")
    )
    sync_graphs()

    names = [(d.name, d.version) for d in registry.latest_definitions()]

    assert names == [
        ("approval", 1),
        ("chat_assistant", 1),
        ("interview", 2),
        ("support-router", 1),
    ]


# --------------------------------------------------------------------------- lazy sync


def test_first_lookup_syncs_the_graph_dirs(yamlgraph_settings):
    assert GraphDefinition.objects.count() == 0

    assert get_latest("interview").version == 1
    assert GraphDefinition.objects.count() == 4


def test_no_lazy_sync_when_sync_on_startup_is_off(yamlgraph_settings):
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "SYNC_ON_STARTUP": False}):
        assert registry.ensure_synced() is None
        with pytest.raises(GraphNotFound):
            get_latest("interview")


def test_lazy_sync_does_nothing_before_migrate(yamlgraph_settings, monkeypatch):
    from django.db import connection

    monkeypatch.setattr(connection.introspection, "table_names", lambda *a, **k: [])

    assert registry.ensure_synced() is None
    assert GraphDefinition.objects.count() == 0
    monkeypatch.undo()
    assert registry.ensure_synced() is not None  # tried again once the tables exist


@pytest.mark.django_db(transaction=True)
def test_lazy_sync_runs_once_per_process(yamlgraph_settings, graph_dir):
    assert registry.ensure_synced() is not None
    (graph_dir / "interview.yaml").write_text(
        (graph_dir / "interview.yaml").read_text().replace("two questions", "2 questions")
    )

    assert registry.ensure_synced() is None
    assert get_latest("interview").version == 1  # a restart (or `yamlgraph sync`) picks it up


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_lazy_sync_is_redone(yamlgraph_settings):
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        assert get_latest("interview").version == 1
        raise Abort

    assert GraphDefinition.objects.count() == 0
    assert get_latest("interview").version == 1  # synced again, not "already done"
