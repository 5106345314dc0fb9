"""The one compare-and-set of rows: an UPDATE filtered on what the caller read.

Sessions, runs and questions change status only through their managers' methods, and
each of those is one `compare_and_set`: the row changes only if it still is what the
caller read (status, revision, lease token...), so of two racing writers exactly one
wins and the loser learns it from the count, never by a second read that could race too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import models
from django.db.models import F, Q


class GuardedQuerySet(models.QuerySet):
    """A queryset whose rows change by `compare_and_set`; a model that keeps a revision
    (bumped on every guarded change) names it in `revision_field`."""

    revision_field: str | None = None

    def compare_and_set(
        self,
        expect: Mapping[str, Any] | Q,
        changes: Mapping[str, Any],
        *,
        instance: Any = None,
        bump: bool = True,
    ) -> int:
        """UPDATE the rows of this queryset that match `expect` with `changes` (and the
        revision + 1 unless `bump` is False); returns how many changed. With `instance`
        and one row changed, the instance shows the new values, its revision included."""
        guard = self.filter(expect) if isinstance(expect, Q) else self.filter(**expect)
        values = dict(changes)
        revision = self.revision_field if bump else None
        if revision is not None:
            values[revision] = F(revision) + 1
        updated = guard.update(**values)
        if updated == 1 and instance is not None:
            for name, value in changes.items():
                setattr(instance, name, value)
            if revision is not None:
                setattr(instance, revision, getattr(instance, revision) + 1)
        return updated
