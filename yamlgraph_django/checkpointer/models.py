"""Tables of the `django` checkpointer: checkpoints, channel values and pending writes.

The layout follows LangGraph's own Postgres saver. A checkpoint row holds the
small part of a checkpoint (ids, channel versions, versions seen) and its
metadata; every channel value lives in `CheckpointBlob`, keyed by (thread,
namespace, channel, version), so a value that did not change between steps is
stored once and shared by every checkpoint that points at its version.

Keys are separate columns under real composite unique constraints, never ids
joined into one string: LangGraph thread ids and namespaces may contain any
character, so a joined id could not be split back unambiguously. Column
lengths keep each composite key under MySQL's 3072-byte index limit in
utf8mb4, so the tables also migrate there; SQLite and Postgres are tested.
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["CheckpointBlob", "CheckpointRecord", "CheckpointWrite"]

#: Longest thread id; the same as Session.thread_id, whose threads these rows store.
THREAD_ID_LENGTH = 255
#: Longest namespace: a subgraph nests "node:task-uuid" parts joined by "|" (~4 levels).
NAMESPACE_LENGTH = 255
#: Checkpoint ids and task ids are UUID strings (36); room for other id schemes.
ID_LENGTH = 64
#: Channel names are state keys and LangGraph's "branch:to:node" channels.
CHANNEL_LENGTH = 150
#: Versions are LangGraph's "<32-digit counter>.<16-digit random>" strings (49).
VERSION_LENGTH = 64
#: Serializer type tags ("msgpack", "json", "bytes", "empty", "encrypted...").
TYPE_LENGTH = 64


class CheckpointRecord(models.Model):
    """One checkpoint of one thread and namespace, without its channel values.

    `checkpoint` is the checkpoint dict minus ``channel_values``, serialized by
    the saver's serde (its type tag in `type`); the values are found through
    ``channel_versions`` in CheckpointBlob. `metadata` is plain JSON so that
    ``list(filter=...)`` can query it in the database.
    """

    thread_id = models.CharField(max_length=THREAD_ID_LENGTH)
    checkpoint_ns = models.CharField(max_length=NAMESPACE_LENGTH, blank=True, default="")
    checkpoint_id = models.CharField(max_length=ID_LENGTH)
    parent_checkpoint_id = models.CharField(max_length=ID_LENGTH, blank=True, default="")
    type = models.CharField(max_length=TYPE_LENGTH)
    checkpoint = models.BinaryField()
    metadata = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        db_table = "yamlgraph_checkpoint"
        # The unique index (thread, ns, id) serves every lookup LangGraph makes:
        # one checkpoint, the latest of a namespace (ORDER BY id DESC LIMIT 1),
        # list() with `before` and `limit`, and delete_thread() (its prefix).
        constraints = [
            models.UniqueConstraint(
                fields=["thread_id", "checkpoint_ns", "checkpoint_id"],
                name="yamlgraph_checkpoint_key",
            )
        ]
        verbose_name = _("checkpoint")

    def __str__(self) -> str:
        return f"{self.thread_id} {self.checkpoint_ns!r} {self.checkpoint_id}"


class CheckpointBlob(models.Model):
    """The value of one channel at one version, shared by every checkpoint at that version.

    `type` ``"empty"`` (and no `blob`) records that the channel had no value at
    this version.
    """

    thread_id = models.CharField(max_length=THREAD_ID_LENGTH)
    checkpoint_ns = models.CharField(max_length=NAMESPACE_LENGTH, blank=True, default="")
    channel = models.CharField(max_length=CHANNEL_LENGTH)
    version = models.CharField(max_length=VERSION_LENGTH)
    type = models.CharField(max_length=TYPE_LENGTH)
    blob = models.BinaryField(null=True)

    class Meta:
        db_table = "yamlgraph_checkpoint_blob"
        constraints = [
            models.UniqueConstraint(
                fields=["thread_id", "checkpoint_ns", "channel", "version"],
                name="yamlgraph_checkpoint_blob_key",
            )
        ]
        verbose_name = _("checkpoint blob")

    def __str__(self) -> str:
        return f"{self.thread_id} {self.checkpoint_ns!r} {self.channel}@{self.version}"


class CheckpointWrite(models.Model):
    """A write a task made after a checkpoint, kept until the next checkpoint applies it.

    This is how a run resumes where it stopped: an interrupt, an error, or the
    finished tasks of a step that did not complete. `idx` is the write's
    position in its task, or a negative constant for special channels
    (LangGraph's WRITES_IDX_MAP: error, interrupt, resume, scheduled).
    """

    thread_id = models.CharField(max_length=THREAD_ID_LENGTH)
    checkpoint_ns = models.CharField(max_length=NAMESPACE_LENGTH, blank=True, default="")
    checkpoint_id = models.CharField(max_length=ID_LENGTH)
    task_id = models.CharField(max_length=ID_LENGTH)
    idx = models.IntegerField()
    task_path = models.TextField(blank=True, default="")
    channel = models.CharField(max_length=255)
    type = models.CharField(max_length=TYPE_LENGTH)
    blob = models.BinaryField()

    class Meta:
        db_table = "yamlgraph_checkpoint_write"
        # Its prefix (thread, ns, checkpoint id) loads a checkpoint's writes.
        constraints = [
            models.UniqueConstraint(
                fields=["thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx"],
                name="yamlgraph_checkpoint_write_key",
            )
        ]
        verbose_name = _("checkpoint write")

    def __str__(self) -> str:
        return f"{self.thread_id} {self.checkpoint_ns!r} {self.checkpoint_id} {self.task_id}[{self.idx}]"
