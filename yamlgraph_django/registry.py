"""The graph registry: graph files on disk become versioned `GraphDefinition` rows.

Sessions point at the exact version they started on and resume on its *stored* source,
so editing or deleting a file never breaks a running session. Syncing is idempotent and
safe to run from several processes at once (unique constraints plus retries), and a
broken file is reported, never raised: one bad graph must not hide the others.

    report = sync_graphs()          # what `manage.py yamlgraph sync` and the admin run
    definition = get_latest("interview")
    config = config_for(definition)  # GraphConfig parsed from the stored source, cached
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.core.signals import setting_changed
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Max, QuerySet

from yamlgraph.config import GraphConfig, load_graph_source, read_graph_text
from yamlgraph.errors import GraphValidationError, ValidationIssue
from yamlgraph.yaml_source import YamlSourceError, load_yaml
from yamlgraph_django.conf import SETTING_NAME, app_settings
from yamlgraph_django.exceptions import GraphNotFound
from yamlgraph_django.models import GraphDefinition

logger = logging.getLogger("yamlgraph_django")

GRAPH_SUFFIXES = (".yaml", ".yml")
#: Directories never scanned: prompt files are YAML too but are not graphs.
SKIPPED_DIRS = frozenset({"prompts", "__pycache__", "node_modules"})
_STORE_ATTEMPTS = 3

# --------------------------------------------------------------------------- discovery


def graph_dirs(dirs: Iterable[str | os.PathLike[str]] | None = None) -> list[Path]:
    """The directories to scan: `dirs`, or the GRAPH_DIRS setting."""
    entries = app_settings.GRAPH_DIRS if dirs is None else dirs
    if isinstance(entries, str | os.PathLike):
        entries = [entries]
    return [Path(entry) for entry in entries]


def find_graph_files(
    dirs: Iterable[str | os.PathLike[str]] | None = None,
) -> list[Path]:
    """Every `*.yaml`/`*.yml` under the graph dirs, recursively, sorted and without duplicates.

    Directories named `prompts` (prompt files), hidden directories and `__pycache__` are
    skipped. An entry that is a file is taken as is; a missing entry is skipped here (the
    `yamlgraph.E005` check reports it). Files are not opened: see `read_graph_file`.
    """
    found: dict[Path, None] = {}
    for entry in graph_dirs(dirs):
        if entry.is_file():
            found.setdefault(entry.resolve(), None)
            continue
        if not entry.is_dir():
            continue
        for root, subdirs, files in os.walk(entry):
            subdirs[:] = sorted(
                d for d in subdirs if d not in SKIPPED_DIRS and not d.startswith(".")
            )
            for name in sorted(files):
                if name.endswith(GRAPH_SUFFIXES) and not name.startswith("."):
                    found.setdefault((Path(root) / name).resolve(), None)
    return sorted(found)


def missing_dirs(dirs: Iterable[str | os.PathLike[str]] | None = None) -> list[Path]:
    """GRAPH_DIRS entries that do not exist (a typo there silently hides every graph)."""
    return [entry for entry in graph_dirs(dirs) if not entry.exists()]


@dataclass
class GraphFile:
    """One graph file read from disk: its source and checksum, and the parsed config or
    the validation issues that keep it from running."""

    path: Path
    source: str
    checksum: str
    config: GraphConfig | None = None
    issues: list[ValidationIssue] = field(default_factory=list)

    @property
    def name(self) -> str | None:
        return self.config.name if self.config else None

    @property
    def valid(self) -> bool:
        return self.config is not None


def checksum_of(source: str) -> str:
    """sha256 of the exact source text: the identity of a graph version."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def read_graph_file(path: str | os.PathLike[str]) -> GraphFile | None:
    """Read and validate one file; None when it is a YAML mapping without `nodes:` (some
    other YAML file that happens to live in a graph directory).

    Never raises for a bad file: unreadable, oversized and non-UTF-8 files, YAML syntax
    errors, empty files and files whose root is not a mapping, and validation errors
    (even an exception raised while importing one of the graph's tool modules) come back
    as `issues`, each naming the file and, where known, the line. The validation is the
    engine's own (`load_graph_source`), so every entry point judges a file the same way.
    """
    path = Path(path)
    try:
        source = read_graph_text(path)
    except GraphValidationError as exc:
        return GraphFile(path, "", "", issues=list(exc.issues))
    graph = GraphFile(path, source, checksum_of(source))
    if not _looks_like_graph(source):
        return None
    try:
        graph.config = load_graph_source(
            source, file=path, check_environment=_graph_blocks_in_effect()
        )
    except GraphValidationError as exc:
        graph.issues = list(exc.issues)
    except Exception as exc:  # a tool module that fails to import must not stop the others
        graph.issues = [ValidationIssue(str(path), "", None, f"{type(exc).__name__}: {exc}")]
    return graph


def _looks_like_graph(source: str) -> bool:
    """Anything but a YAML mapping without a top-level `nodes` key.

    Files that do not parse, are empty or hold a list or a single value are treated as
    (broken) graphs, so that a mistake is reported instead of the graph silently
    disappearing.
    """
    try:
        data, _lines = load_yaml(source)
    except (yaml.YAMLError, YamlSourceError):
        return True
    return not isinstance(data, dict) or "nodes" in data


def _graph_blocks_in_effect() -> bool:
    """Whether graph files' own checkpointer blocks are used (no CHECKPOINTER_OVERRIDE):
    only then must their `${VAR}`s be set."""
    return app_settings.CHECKPOINTER_OVERRIDE is None


# --------------------------------------------------------------------------- the report


class SyncStatus:
    ADDED = "added"  # first version of a new graph name
    UPDATED = "updated"  # new source for a known name: version N+1, now the latest
    RESTORED = "restored"  # the file went back to an older source: that version is latest again
    UNCHANGED = "unchanged"
    INVALID = "invalid"  # validation failed; nothing stored, earlier versions untouched
    DUPLICATE = "duplicate"  # another file declares the same name; neither is stored
    ERROR = "error"  # the database refused the row (after retries)


@dataclass
class SyncEntry:
    """What happened to one file."""

    path: Path
    status: str
    name: str | None = None
    definition: GraphDefinition | None = None
    previous_version: int | None = None
    issues: list[ValidationIssue] = field(default_factory=list)

    def describe(self) -> str:
        """One human line (plus indented issue lines) for command output and admin messages."""
        d = self.definition
        if self.status == SyncStatus.ADDED:
            return f"added {d} ({self.path})"
        if self.status == SyncStatus.UPDATED:
            return f"updated {self.name}: v{self.previous_version} -> v{d.version} ({self.path})"
        if self.status == SyncStatus.RESTORED:
            return (
                f"restored {self.name}: the file matches v{d.version} again, which is the "
                f"latest now (was v{self.previous_version}) ({self.path})"
            )
        if self.status == SyncStatus.UNCHANGED:
            return f"unchanged {d} ({self.path})"
        if self.status == SyncStatus.DUPLICATE:
            return f"duplicate graph name '{self.name}' in {self.path}"
        lines = [f"{self.status} {self.path}:"]
        lines += [f"  {issue}" for issue in self.issues]
        return "\n".join(lines)


@dataclass
class SyncReport:
    """The result of `sync_graphs`: one entry per graph file, plus what is worth knowing."""

    entries: list[SyncEntry] = field(default_factory=list)
    missing_dirs: list[Path] = field(default_factory=list)
    #: Latest definitions whose file no longer exists: kept, and their sessions still resume.
    orphaned: list[GraphDefinition] = field(default_factory=list)

    def _with(self, *statuses: str) -> list[SyncEntry]:
        return [entry for entry in self.entries if entry.status in statuses]

    @property
    def added(self) -> list[SyncEntry]:
        return self._with(SyncStatus.ADDED)

    @property
    def updated(self) -> list[SyncEntry]:
        """New versions, including files restored to an earlier version."""
        return self._with(SyncStatus.UPDATED, SyncStatus.RESTORED)

    @property
    def unchanged(self) -> list[SyncEntry]:
        return self._with(SyncStatus.UNCHANGED)

    @property
    def invalid(self) -> list[SyncEntry]:
        return self._with(SyncStatus.INVALID, SyncStatus.ERROR)

    @property
    def duplicates(self) -> dict[str, list[Path]]:
        """Graph name -> the files that all declare it."""
        result: dict[str, list[Path]] = {}
        for entry in self._with(SyncStatus.DUPLICATE):
            result.setdefault(entry.name or "", []).append(entry.path)
        return result

    @property
    def definitions(self) -> dict[str, GraphDefinition]:
        """Name -> the definition each valid file now maps to (the latest of its name)."""
        return {e.name: e.definition for e in self.entries if e.definition is not None and e.name}

    @property
    def ok(self) -> bool:
        """False when a file is invalid or a name is declared twice: the command exits 1."""
        return not (self.invalid or self.duplicates)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)

    def summary(self) -> str:
        """One line: counts per outcome."""
        parts = [
            f"{len(self.added)} added",
            f"{len(self.updated)} updated",
            f"{len(self.unchanged)} unchanged",
            f"{len(self.invalid)} invalid",
        ]
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} duplicate name(s)")
        files = len(self.entries)
        return f"{files} graph file{'s' if files != 1 else ''}: " + ", ".join(parts)

    def lines(self) -> list[str]:
        """Everything a person should read, most important first, then the summary."""
        out: list[str] = [f"graph directory does not exist: {path}" for path in self.missing_dirs]
        out += [entry.describe() for entry in self.invalid]
        for name, paths in self.duplicates.items():
            out.append(
                f"duplicate graph name '{name}' declared by {len(paths)} files; none of them "
                f"is synced until one is renamed (a registered '{name}' keeps its current "
                f"version): " + ", ".join(str(p) for p in paths)
            )
        out += [entry.describe() for entry in self.added + self.updated + self.unchanged]
        out += [
            f"kept {d} although its file {d.path or '(unknown)'} is gone: its sessions can "
            f"still resume"
            for d in self.orphaned
        ]
        out.append(self.summary())
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


# --------------------------------------------------------------------------- syncing


def sync_graphs(
    dirs: Iterable[str | os.PathLike[str]] | None = None,
    *,
    progress: Callable[[Path], Any] | None = None,
) -> SyncReport:
    """Register every graph file under `dirs` (default GRAPH_DIRS) and report what changed.

    A new checksum for a known name becomes version N+1 and the only `is_latest` row of
    that name; an unchanged file changes nothing. Invalid files and names declared by
    more than one file are reported and skipped; they never raise and never stop the
    other files. `progress(path)` is called before each file is read.
    """
    report = SyncReport(missing_dirs=missing_dirs(dirs))
    graphs: list[GraphFile] = []
    for path in find_graph_files(dirs):
        if progress is not None:
            progress(path)
        graph = read_graph_file(path)
        if graph is None:
            continue
        if not graph.valid:
            report.entries.append(SyncEntry(path, SyncStatus.INVALID, issues=graph.issues))
            continue
        graphs.append(graph)

    by_name: dict[str, list[GraphFile]] = {}
    for graph in graphs:
        by_name.setdefault(graph.name or "", []).append(graph)
    for name, same_name in by_name.items():
        if len(same_name) > 1:
            for graph in same_name:
                report.entries.append(SyncEntry(graph.path, SyncStatus.DUPLICATE, name=name))
            continue
        report.entries.append(_store(same_name[0]))

    report.entries.sort(key=lambda entry: str(entry.path))
    report.orphaned = [
        d
        for d in GraphDefinition.objects.filter(is_latest=True).order_by("name")
        if not (d.path and Path(d.path).is_file())
    ]
    return report


def _store(graph: GraphFile) -> SyncEntry:
    """Store one valid file, retrying when a concurrent sync wins a unique constraint."""
    for attempt in range(1, _STORE_ATTEMPTS + 1):
        try:
            with transaction.atomic(using=router.db_for_write(GraphDefinition)):
                return _store_once(graph)
        except IntegrityError as exc:
            # Another process registered the same name at the same moment: re-read and retry.
            if attempt == _STORE_ATTEMPTS:
                issue = ValidationIssue(str(graph.path), "", None, f"cannot store graph: {exc}")
                return SyncEntry(graph.path, SyncStatus.ERROR, name=graph.name, issues=[issue])
    raise AssertionError("unreachable")  # pragma: no cover


def _store_once(graph: GraphFile) -> SyncEntry:
    assert graph.config is not None
    config, name, path = graph.config, graph.config.name, str(graph.path)
    rows = GraphDefinition.objects.filter(name=name)
    # Lock this name's rows (a no-op on SQLite, which locks the whole database anyway).
    list(rows.select_for_update().values_list("pk", flat=True))
    # A name lives in one file. When that file moved (renamed, or the project now runs
    # from another release directory), every version resolves its relative tools,
    # prompts and subgraphs next to it, or older sessions could not compile any more.
    rows.exclude(path=path).update(path=path)
    latest = rows.filter(is_latest=True).first()
    existing = rows.filter(checksum=graph.checksum).first()

    if existing is not None:
        update_fields = []
        status = SyncStatus.UNCHANGED
        if not existing.is_latest:
            rows.filter(is_latest=True).update(is_latest=False)
            existing.is_latest = True
            update_fields.append("is_latest")
            status = SyncStatus.RESTORED
        if update_fields:
            existing.save(update_fields=update_fields)
        return SyncEntry(
            graph.path,
            status,
            name=name,
            definition=existing,
            previous_version=latest.version if latest else None,
        )

    highest = rows.aggregate(highest=Max("version"))["highest"] or 0
    rows.filter(is_latest=True).update(is_latest=False)
    definition = GraphDefinition.objects.create(
        name=name,
        version=highest + 1,
        description=config.description,
        checksum=graph.checksum,
        source=graph.source,
        path=path,
        declared_version=config.version[:50],
        is_latest=True,
    )
    return SyncEntry(
        graph.path,
        SyncStatus.ADDED if highest == 0 else SyncStatus.UPDATED,
        name=name,
        definition=definition,
        previous_version=latest.version if latest else None,
    )


# --------------------------------------------------------------------------- lazy sync

_sync_lock = threading.Lock()
_synced = False


def ensure_synced() -> SyncReport | None:
    """Sync GRAPH_DIRS once per process, on first use, when SYNC_ON_STARTUP is true.

    Called by `get_latest` and `latest_definitions` rather than from `AppConfig.ready()`,
    because Django warns against queries during app loading and the tables may not exist
    yet (before `migrate`): then this does nothing and tries again on the next use.
    When called inside a transaction, the process only counts as synced once that
    transaction commits, so a rolled-back request cannot leave the registry empty.
    Returns the report when it synced, else None.
    """
    global _synced
    if _synced or not app_settings.SYNC_ON_STARTUP:
        return None
    with _sync_lock:
        if _synced:
            return None
        alias = router.db_for_write(GraphDefinition)
        connection = connections[alias]
        if GraphDefinition._meta.db_table not in connection.introspection.table_names():
            return None
        report = sync_graphs()
        _log_report(report)
        if connection.in_atomic_block:
            transaction.on_commit(_mark_synced, using=alias)
        else:
            _synced = True
        return report


def _mark_synced() -> None:
    global _synced
    _synced = True


def _log_report(report: SyncReport) -> None:
    for line in report.lines()[:-1]:
        problem = line.startswith(("invalid", "error", "duplicate", "graph directory"))
        logger.log(logging.WARNING if problem else logging.DEBUG, "yamlgraph sync: %s", line)
    logger.info("yamlgraph sync: %s", report.summary())


def reset() -> None:
    """Forget the lazy sync and the parsed configs (settings changed, or a new test)."""
    global _synced
    with _sync_lock:
        _synced = False
    _configs.clear()


# --------------------------------------------------------------------------- lookups


def latest_definitions() -> QuerySet[GraphDefinition]:
    """The latest version of every registered graph (after the lazy sync)."""
    ensure_synced()
    return GraphDefinition.objects.filter(is_latest=True).order_by("name")


def get_latest(name: str) -> GraphDefinition:
    """The latest version of graph `name`; raises GraphNotFound (404) when none is registered."""
    ensure_synced()
    try:
        return GraphDefinition.objects.get(name=name, is_latest=True)
    except GraphDefinition.DoesNotExist:
        raise GraphNotFound(name=name) from None


_configs: dict[tuple[Any, str, str], GraphConfig] = {}
_configs_lock = threading.Lock()


def config_for(definition: GraphDefinition) -> GraphConfig:
    """The GraphConfig of a stored version, parsed from its *stored* source.

    Never the file on disk: a session resumes on the version it started on even after
    the file was edited or deleted. `file=definition.path` anchors relative tool, prompt
    and subgraph paths, so those must still exist. Cached per process by (pk, checksum,
    path). Raises GraphValidationError if the stored source no longer validates (say,
    its tool file was deleted).
    """
    key = (definition.pk, definition.checksum, definition.path)
    config = _configs.get(key)
    if config is None:
        config = load_graph_source(
            definition.source,
            file=definition.path or None,
            check_environment=_graph_blocks_in_effect(),
        )
        with _configs_lock:
            _configs[key] = config
    return config


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        reset()


setting_changed.connect(_on_setting_changed)
