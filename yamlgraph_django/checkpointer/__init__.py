"""The `django` checkpointer: LangGraph checkpoints in the project's own database.

    checkpointer:
      type: django
      database: default      # a key of settings.DATABASES (default: "default")

`DjangoSaver` stores checkpoints, channel values and pending writes through
the Django ORM (models in `yamlgraph_django.checkpointer.models`, created by
``migrate``), so a project needs no Redis or separate checkpoint database, and
its checkpoints are backed up, replicated and migrated with the rest of its
data. One instance serves sync graphs (``invoke``) and async graphs
(``ainvoke``): the ``a*`` methods run the same ORM code through
``sync_to_async``, off the event loop.

Storage follows LangGraph's Postgres saver: each channel value is stored once
per version (CheckpointBlob), and a checkpoint only names the versions it
uses. A long session therefore stores what changed at each step, not its whole
state again. Everything goes through the saver's ``serde``
(``dumps_typed``/``loads_typed``), so an EncryptedSerializer works as usual.

Sync methods run in the calling thread on the calling thread's connection, so
a direct call (``saver.delete_thread(...)`` next to deleting a session row)
takes part in the caller's ``transaction.atomic()`` block. A graph run does
not: LangGraph's sync loop saves from its own worker threads, each with its
own connection (closed when the thread ends). So on SQLite, do not run a graph
while the calling thread holds a transaction that has written: the workers
would wait for its lock until SQLite's timeout ("database is locked").
"""

from __future__ import annotations

import random
import threading
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Model, QuerySet
from django.db.models.fields.json import KeyTransform
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_id,
    get_serializable_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from yamlgraph_django.checkpointer.models import (
    CHANNEL_LENGTH,
    NAMESPACE_LENGTH,
    THREAD_ID_LENGTH,
    CheckpointBlob,
    CheckpointRecord,
    CheckpointWrite,
)

__all__ = ["DjangoSaver", "async_factory", "register", "sync_factory"]

#: Checkpoints decoded per round of blob and write queries in list(): bounds the
#: size of each IN (...) list and lets alist() hand results out as it goes.
PAGE_SIZE = 100

#: One lock per SQLite alias, shared by every saver of the process (see DjangoSaver._database).
_SQLITE_LOCKS: dict[str, threading.RLock] = {}
_SQLITE_LOCKS_GUARD = threading.Lock()

#: Per worker thread: the DB-API connections to close when the thread ends.
_THREAD_LOCAL = threading.local()

_CHECKPOINT_KEY = ["thread_id", "checkpoint_ns", "checkpoint_id"]
_WRITE_KEY = ["thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx"]


class DjangoSaver(BaseCheckpointSaver[str]):
    """LangGraph checkpoint saver on a Django database alias, sync and async.

    Args:
        using: the database alias (a key of ``settings.DATABASES``) holding the
            tables; they come from this app's migrations, so migrate that
            database too when it is not ``default`` (and let a database router
            send ``yamlgraph_django`` there).
        serde: serializer for checkpoints, values and writes (LangGraph's
            JsonPlusSerializer by default).
    """

    def __init__(
        self, *, using: str = DEFAULT_DB_ALIAS, serde: SerializerProtocol | None = None
    ) -> None:
        super().__init__(serde=serde)
        if using not in connections.settings:
            known = ", ".join(sorted(connections.settings)) or "none"
            raise ValueError(f"unknown database alias {using!r}; settings.DATABASES has: {known}")
        self.using = using

    def __repr__(self) -> str:
        return f"<{type(self).__name__} using={self.using!r}>"

    # -- sync API -----------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint `config` names, or the latest of its thread and namespace."""
        configurable = config["configurable"]
        rows = self._records().filter(
            thread_id=str(configurable["thread_id"]),
            checkpoint_ns=configurable.get("checkpoint_ns") or "",
        )
        if checkpoint_id := get_checkpoint_id(config):
            rows = rows.filter(checkpoint_id=checkpoint_id)
        else:
            rows = rows.order_by("-checkpoint_id")
        with self._database():
            row = rows.first()
            return self._load_tuples([row])[0] if row is not None else None

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints matching `config` (thread, namespace, id), newest first.

        `filter` keeps checkpoints whose metadata has these keys with these
        values; `before` keeps those older than its checkpoint id; `limit`
        caps the count.
        """
        rows = self._select(config, filter, before, limit)
        for start in range(0, len(rows), PAGE_SIZE):
            yield from self._load_tuples(rows[start : start + PAGE_SIZE])

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and the channel values that changed (`new_versions`).

        Values of unchanged channels are already stored under their version
        and are not written again. The blobs and the checkpoint row are saved
        in one transaction: a checkpoint is never visible without its values.
        """
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        checkpoint_ns = configurable.get("checkpoint_ns") or ""
        _check_key(thread_id, checkpoint_ns)
        values = checkpoint["channel_values"]
        blobs = []
        for channel, version in new_versions.items():
            if len(channel) > CHANNEL_LENGTH:
                raise ValueError(
                    f"channel name longer than {CHANNEL_LENGTH} characters: {channel[:80]!r}..."
                )
            kind, blob = (
                self.serde.dumps_typed(values[channel]) if channel in values else ("empty", None)
            )
            blobs.append(
                CheckpointBlob(
                    thread_id=thread_id,
                    checkpoint_ns=checkpoint_ns,
                    channel=channel,
                    version=str(version),
                    type=kind,
                    blob=blob,
                )
            )
        shell = {key: value for key, value in checkpoint.items() if key != "channel_values"}
        kind, payload = self.serde.dumps_typed(shell)
        record = CheckpointRecord(
            thread_id=thread_id,
            checkpoint_ns=checkpoint_ns,
            checkpoint_id=checkpoint["id"],
            parent_checkpoint_id=configurable.get("checkpoint_id") or "",
            type=kind,
            checkpoint=payload,
            metadata=get_serializable_checkpoint_metadata(config, metadata),
        )
        with self._database(), transaction.atomic(using=self.using):
            if blobs:
                # A version's value never changes: an existing row is the same value.
                CheckpointBlob.objects.using(self.using).bulk_create(blobs, ignore_conflicts=True)
            self._upsert(
                CheckpointRecord, [record], _CHECKPOINT_KEY, ["type", "checkpoint", "metadata"]
            )
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes against the checkpoint in `config`.

        Saving the same task's writes twice keeps the first copy (a retried
        task must not apply twice), except the special channels (error,
        interrupt, resume, scheduled), whose latest value wins, as in
        LangGraph's own savers.
        """
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        checkpoint_ns = configurable.get("checkpoint_ns") or ""
        _check_key(thread_id, checkpoint_ns)
        regular: list[CheckpointWrite] = []
        special: dict[int, CheckpointWrite] = {}
        for position, (channel, value) in enumerate(writes):
            kind, blob = self.serde.dumps_typed(value)
            row = CheckpointWrite(
                thread_id=thread_id,
                checkpoint_ns=checkpoint_ns,
                checkpoint_id=configurable["checkpoint_id"],
                task_id=str(task_id),
                task_path=task_path,
                idx=WRITES_IDX_MAP.get(channel, position),
                channel=channel,
                type=kind,
                blob=blob,
            )
            if row.idx < 0:
                special[row.idx] = row  # one row per key, or an upsert hits it twice
            else:
                regular.append(row)
        with self._database(), transaction.atomic(using=self.using):
            if regular:
                CheckpointWrite.objects.using(self.using).bulk_create(
                    regular, ignore_conflicts=True
                )
            if special:
                fields = ["channel", "type", "blob", "task_path"]
                self._upsert(CheckpointWrite, list(special.values()), _WRITE_KEY, fields)

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, value and write of `thread_id`, in one transaction."""
        thread_id = str(thread_id)
        with self._database(), transaction.atomic(using=self.using):
            for model in (CheckpointWrite, CheckpointBlob, CheckpointRecord):
                model.objects.using(self.using).filter(thread_id=thread_id).delete()

    def delete_threads(self, thread_ids: list[str]) -> None:
        """Delete the checkpoints of many threads: one statement per table per chunk."""
        ids = [str(thread_id) for thread_id in thread_ids]
        with self._database(), transaction.atomic(using=self.using):
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for model in (CheckpointWrite, CheckpointBlob, CheckpointRecord):
                    model.objects.using(self.using).filter(thread_id__in=chunk).delete()

    def get_next_version(self, current: str | None, channel: None = None) -> str:
        """Next channel version: a zero-padded counter plus a random fraction.

        The same scheme as LangGraph's Postgres and memory savers, so versions
        sort as strings and a thread moved between these savers keeps working.
        """
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"

    # -- async API: the same ORM code in Django's sync thread ----------------
    #
    # Django's ORM is synchronous; its own async methods also hop to a thread.
    # Running each whole operation in one hop keeps transaction.atomic() usable
    # and costs one thread switch instead of one per query. thread_sensitive
    # (the default) reuses the thread Django uses for sync code, so connections
    # are not opened per call.

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async get_tuple(), run off the event loop."""
        return await sync_to_async(self.get_tuple)(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async list(): decodes PAGE_SIZE checkpoints per hop, off the event loop."""
        rows = await sync_to_async(self._select)(config, filter, before, limit)
        for start in range(0, len(rows), PAGE_SIZE):
            page = await sync_to_async(self._load_tuples)(rows[start : start + PAGE_SIZE])
            for item in page:
                yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async put(), run off the event loop."""
        return await sync_to_async(self.put)(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async put_writes(), run off the event loop."""
        await sync_to_async(self.put_writes)(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """Async delete_thread(), run off the event loop."""
        await sync_to_async(self.delete_thread)(thread_id)

    # -- helpers --------------------------------------------------------------

    @contextmanager
    def _database(self) -> Iterator[None]:
        """Wrap each use of the database: take turns on SQLite, then adopt the connection.

        On SQLite, one thread of this process at a time: LangGraph saves
        checkpoints and writes from several worker threads at once, and SQLite
        takes one writer at a time anyway, but a thread that finds the
        database busy may fail ("database is locked") instead of waiting; on a
        shared-cache in-memory database (Django's SQLite test database) it
        always fails at once ("database table is locked"). Other databases
        handle concurrent sessions themselves: no lock.

        Afterwards, a connection the current worker thread holds is closed
        when that thread ends (see _close_with_thread).
        """
        lock: AbstractContextManager[Any] = nullcontext()
        if connections[self.using].vendor == "sqlite":
            with _SQLITE_LOCKS_GUARD:
                lock = _SQLITE_LOCKS.setdefault(self.using, threading.RLock())
        try:
            with lock:
                yield
        finally:
            _close_with_thread(self.using)

    def _upsert(
        self, model: type[Model], rows: list[Any], key: list[str], fields: list[str]
    ) -> None:
        """Insert `rows`, or update `fields` of the rows already there with the same `key`."""
        # MySQL's ON DUPLICATE KEY UPDATE takes no conflict target (any unique key).
        with_target = connections[self.using].features.supports_update_conflicts_with_target
        model.objects.using(self.using).bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=key if with_target else None,
            update_fields=fields,
        )

    def _records(self) -> QuerySet[CheckpointRecord]:
        return CheckpointRecord.objects.using(self.using)

    def _select(
        self,
        config: RunnableConfig | None,
        filter: Mapping[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> list[CheckpointRecord]:
        """The checkpoint rows list() returns, newest first (values not loaded yet)."""
        rows = self._records()
        if config:
            configurable = config["configurable"]
            rows = rows.filter(thread_id=str(configurable["thread_id"]))
            checkpoint_ns = configurable.get("checkpoint_ns")
            if checkpoint_ns is not None:
                rows = rows.filter(checkpoint_ns=checkpoint_ns)
            if checkpoint_id := get_checkpoint_id(config):
                rows = rows.filter(checkpoint_id=checkpoint_id)
        if filter:
            rows = self._filter_metadata(rows, filter)
        if before is not None and (before_id := get_checkpoint_id(before)):
            rows = rows.filter(checkpoint_id__lt=before_id)
        rows = rows.order_by("-checkpoint_id")
        if limit is not None:
            rows = rows[: max(int(limit), 0)]
        with self._database():
            return list(rows)

    def _filter_metadata(
        self, rows: QuerySet[CheckpointRecord], filter: Mapping[str, Any]
    ) -> QuerySet[CheckpointRecord]:
        """`rows` whose metadata has each key of `filter` with that value.

        On Postgres this is containment (``metadata @> filter``), the query
        LangGraph's Postgres saver runs, served by a GIN index. Elsewhere each
        key's JSON value must equal the filter's, as in LangGraph's SQLite and
        memory savers. The two agree on scalar values; for a dict or list
        value Postgres also matches a stored value that contains it.
        """
        if connections[self.using].vendor == "postgresql":
            return rows.filter(metadata__contains=dict(filter))
        for position, (key, value) in enumerate(filter.items()):
            # An expression rather than `metadata__<key>`: keys may contain "__".
            name = f"_metadata_{position}"
            rows = rows.alias(**{name: KeyTransform(str(key), "metadata")}).filter(**{name: value})
        return rows

    def _load_tuples(self, rows: Sequence[CheckpointRecord]) -> list[CheckpointTuple]:
        """Decode checkpoint rows with their channel values and pending writes.

        Two queries per (thread, namespace) among `rows`, whatever their count:
        one for the blobs of the versions they name, one for their writes.
        """
        with self._database():
            return self._decode(rows)

    def _decode(self, rows: Sequence[CheckpointRecord]) -> list[CheckpointTuple]:
        groups: dict[tuple[str, str], list[CheckpointRecord]] = defaultdict(list)
        for row in rows:
            groups[row.thread_id, row.checkpoint_ns].append(row)
        shells = {
            id(row): self.serde.loads_typed((row.type, bytes(row.checkpoint))) for row in rows
        }
        values: dict[int, dict[str, Any]] = {}
        writes: dict[tuple[str, str, str], list[PendingWrite]] = {}
        for (thread_id, checkpoint_ns), members in groups.items():
            wanted = {
                (channel, str(version))
                for row in members
                for channel, version in shells[id(row)].get("channel_versions", {}).items()
            }
            blobs = self._blobs(thread_id, checkpoint_ns, wanted)
            for row in members:
                values[id(row)] = {
                    channel: self.serde.loads_typed(blobs[channel, str(version)])
                    for channel, version in shells[id(row)].get("channel_versions", {}).items()
                    if (channel, str(version)) in blobs
                }
            writes.update(
                self._writes(thread_id, checkpoint_ns, [r.checkpoint_id for r in members])
            )
        return [
            CheckpointTuple(
                config=_config(row.thread_id, row.checkpoint_ns, row.checkpoint_id),
                checkpoint={**shells[id(row)], "channel_values": values[id(row)]},
                metadata=row.metadata,
                parent_config=(
                    _config(row.thread_id, row.checkpoint_ns, row.parent_checkpoint_id)
                    if row.parent_checkpoint_id
                    else None
                ),
                pending_writes=writes.get(
                    (row.thread_id, row.checkpoint_ns, row.checkpoint_id), []
                ),
            )
            for row in rows
        ]

    def _blobs(
        self, thread_id: str, checkpoint_ns: str, wanted: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, bytes]]:
        """Serialized values of the (channel, version) pairs in `wanted`; "empty" ones left out.

        Left serialized: each checkpoint decodes its own copy, so tuples from
        one list() never share a mutable value.
        """
        wanted = set(wanted)
        if not wanted:
            return {}
        rows = (
            CheckpointBlob.objects.using(self.using)
            .filter(
                thread_id=thread_id,
                checkpoint_ns=checkpoint_ns,
                channel__in={channel for channel, _ in wanted},
                version__in={version for _, version in wanted},
            )
            .values_list("channel", "version", "type", "blob")
        )
        return {
            (channel, version): (kind, bytes(blob))
            for channel, version, kind, blob in rows
            if (channel, version) in wanted and kind != "empty"
        }

    def _writes(
        self, thread_id: str, checkpoint_ns: str, checkpoint_ids: Sequence[str]
    ) -> dict[tuple[str, str, str], list[PendingWrite]]:
        """Pending writes per checkpoint, in LangGraph's order (task path, task id, idx)."""
        rows = (
            CheckpointWrite.objects.using(self.using)
            .filter(
                thread_id=thread_id, checkpoint_ns=checkpoint_ns, checkpoint_id__in=checkpoint_ids
            )
            .values_list("checkpoint_id", "task_path", "task_id", "idx", "channel", "type", "blob")
        )
        ordered = sorted(rows, key=lambda r: (r[0], writes_sort_key(r[1], r[2], r[3])))
        result: dict[tuple[str, str, str], list[PendingWrite]] = defaultdict(list)
        for checkpoint_id, _path, task_id, _idx, channel, kind, blob in ordered:
            result[thread_id, checkpoint_ns, checkpoint_id].append(
                (task_id, channel, self.serde.loads_typed((kind, bytes(blob))))
            )
        return result


def _close_with_thread(alias: str) -> None:
    """Close the current thread's connection to `alias` when the thread ends.

    A sync graph calls the saver from LangGraph's worker threads, which live
    for one invoke(). Django opens a connection per thread and closes it only
    at the end of a request, so each run would leave its worker threads'
    connections to the garbage collector: a Postgres session each until then,
    and a ResourceWarning. The connection is remembered in thread-local
    storage next to a sentinel object; when the thread ends, Python clears
    that storage, the sentinel goes and its finalizer closes the connection.
    The main thread is left to Django. Closing an already closed connection
    is harmless, so threads whose connections Django manages (request
    threads) are unaffected.
    """
    if threading.current_thread() is threading.main_thread():
        return
    raw = connections[alias].connection
    if raw is None:
        return
    held: dict[str, Any] | None = getattr(_THREAD_LOCAL, "held", None)
    if held is None:
        held = _THREAD_LOCAL.held = {}
        _THREAD_LOCAL.sentinel = sentinel = _Sentinel()
        weakref.finalize(sentinel, _close_all, held)
    held[alias] = raw


class _Sentinel:
    """Lives in a thread's local storage; collected when the thread ends."""


def _close_all(held: dict[str, Any]) -> None:
    for raw in held.values():
        with suppress(Exception):
            raw.close()


def _config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def _check_key(thread_id: str, checkpoint_ns: str) -> None:
    """Refuse keys longer than their columns, the same way on every database.

    SQLite would store them and Postgres would refuse them with a DataError
    mid-run; a clear error up front names the limit instead.
    """
    if len(thread_id) > THREAD_ID_LENGTH:
        raise ValueError(
            f"thread_id longer than {THREAD_ID_LENGTH} characters: {thread_id[:80]!r}..."
        )
    if len(checkpoint_ns) > NAMESPACE_LENGTH:
        raise ValueError(
            f"checkpoint namespace longer than {NAMESPACE_LENGTH} characters "
            f"(subgraphs nested too deep?): {checkpoint_ns[:80]!r}..."
        )


# -- registration with yamlgraph.storage ------------------------------------------


def sync_factory(config: dict[str, Any]) -> DjangoSaver:
    """``type: django`` for sync graphs: a DjangoSaver on ``database`` (default "default")."""
    from yamlgraph.storage import CheckpointerConfigError, check_options

    check_options(config, ["database"])
    alias = config.get("database", DEFAULT_DB_ALIAS)
    if not isinstance(alias, str) or not alias.strip():
        raise CheckpointerConfigError(
            f"checkpointer type 'django' needs 'database' to be a database alias, not {alias!r}"
        )
    try:
        return DjangoSaver(using=alias.strip())
    except ValueError as exc:
        raise CheckpointerConfigError(f"checkpointer type 'django': {exc}") from None


def async_factory(config: dict[str, Any]) -> DjangoSaver:
    """``type: django`` for async graphs: the same class, its ``a*`` methods work in any loop."""
    return sync_factory(config)


def register() -> None:
    """Register ``type: django`` with yamlgraph.storage. Safe to call again (it replaces)."""
    from yamlgraph.storage import register_checkpointer

    register_checkpointer("django", sync_factory, async_factory)
