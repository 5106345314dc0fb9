"""LangGraph's long-term store (`BaseStore`) for graphs and for `/lg/store/*`.

By default it is `DjangoStore`, the `StoreItem` table of the project's database (no
server to run; rows go with the database's backups and transactions). `YAMLGRAPH["STORE"]`
picks LangGraph's own stores instead: `{"type": "postgres", "url": ...}` or
`{"type": "redis", "url": ...}`. Graphs are compiled with the store, so a python tool
with a `store` parameter gets it, and `/lg/store/*` reads and writes the same items.

Who may touch which namespace is the rulebook's (`YAMLGRAPH["STORE_ACCESS"]`, by
default `own_namespace_or_staff`: a user's namespaces start with their username).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string
from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    validate_op_namespace,
)

from yamlgraph_django.conf import app_settings
from yamlgraph_django.exceptions import CheckpointerUnavailable
from yamlgraph_django.store_models import StoreItem

SEPARATOR = "."


def path_of(namespace: Sequence[str]) -> str:
    return SEPARATOR.join(namespace)


def namespace_of(path: str) -> tuple[str, ...]:
    return tuple(path.split(SEPARATOR)) if path else ()


def matches_filter(value: Any, wanted: Any) -> bool:
    """LangGraph's store filter semantics (as its in-memory and Postgres stores): equal
    values, nested objects by key, lists element-wise, and `$eq $ne $gt $gte $lt $lte`."""
    if isinstance(wanted, Mapping):
        if any(str(k).startswith("$") for k in wanted):
            return all(compare(value, op, operand) for op, operand in wanted.items())
        if not isinstance(value, Mapping):
            return False
        return all(matches_filter(value.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list | tuple):
        return (
            isinstance(value, list | tuple)
            and len(value) == len(wanted)
            and all(matches_filter(a, b) for a, b in zip(value, wanted, strict=False))
        )
    return value == wanted


def compare(value: Any, operator: str, operand: Any) -> bool:
    if operator == "$eq":
        return value == operand
    if operator == "$ne":
        return value != operand
    if operator not in ("$gt", "$gte", "$lt", "$lte"):
        raise ValueError(f"Unsupported filter operator {operator}: use $eq $ne $gt $gte $lt $lte")
    try:
        left, right = float(value), float(operand)
    except (TypeError, ValueError):
        return False
    return {
        "$gt": left > right,
        "$gte": left >= right,
        "$lt": left < right,
        "$lte": left <= right,
    }[operator]


def namespace_matches(namespace: tuple[str, ...], condition: Any) -> bool:
    """A ListNamespaces match condition (prefix or suffix, `*` matching any label)."""
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    pairs = (
        zip(namespace, path, strict=False)
        if condition.match_type == "prefix"
        else zip(reversed(namespace), reversed(path), strict=False)
    )
    return all(p == "*" or n == p for n, p in pairs)


class DjangoStore(BaseStore):
    """A LangGraph store on the `StoreItem` table (any database Django supports).

    Filters are applied in Python over the namespace's rows in `updated_at` order
    (newest first), so they work on SQLite and Postgres alike; semantic `query`
    search needs an embedding index, which this store has not (a query is ignored, as
    LangGraph's in-memory store does without one).
    """

    supports_ttl = True

    def __init__(self, *, ttl: Mapping[str, Any] | None = None) -> None:
        self.ttl_config = dict(ttl) if ttl else None  # type: ignore[assignment]

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run the ops in order, in one transaction."""
        ops = list(ops)
        for op in ops:
            validate_op_namespace(op)
        results: list[Result] = []
        with transaction.atomic():
            for op in ops:
                if isinstance(op, GetOp):
                    results.append(self._get(op))
                elif isinstance(op, SearchOp):
                    results.append(self._search(op))
                elif isinstance(op, PutOp):
                    self._put(op)
                    results.append(None)
                elif isinstance(op, ListNamespacesOp):
                    results.append(self._list_namespaces(op))
                else:
                    raise ValueError(f"Unknown store operation {type(op).__name__}")
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await sync_to_async(self.batch, thread_sensitive=False)(list(ops))

    # ------------------------------------------------------------------ ops

    @staticmethod
    def live(now: dt.datetime) -> Q:
        return Q(expires_at__isnull=True) | Q(expires_at__gt=now)

    def _refresh(self, rows: Sequence[StoreItem], refresh: bool | None, now: dt.datetime) -> None:
        if refresh is None:
            refresh = (self.ttl_config or {}).get("refresh_on_read", True)
        if not refresh:
            return
        for row in rows:
            if row.ttl_minutes is not None:
                row.expires_at = now + dt.timedelta(minutes=row.ttl_minutes)
                StoreItem.objects.filter(pk=row.pk).update(expires_at=row.expires_at)

    def _get(self, op: GetOp) -> Item | None:
        now = timezone.now()
        row = StoreItem.objects.filter(
            self.live(now), namespace=path_of(op.namespace), key=op.key
        ).first()
        if row is None:
            return None
        self._refresh([row], op.refresh_ttl, now)
        return item_of(row)

    def _put(self, op: PutOp) -> None:
        path = path_of(op.namespace)
        if op.value is None:
            StoreItem.objects.filter(namespace=path, key=op.key).delete()
            return
        now = timezone.now()
        ttl = op.ttl
        expires = now + dt.timedelta(minutes=ttl) if ttl is not None else None
        row = StoreItem.objects.select_for_update().filter(namespace=path, key=op.key).first()
        if row is not None and row.expires_at is not None and row.expires_at <= now:
            row.delete()  # an expired item is gone: a put makes a new one
            row = None
        if row is None:
            StoreItem.objects.create(
                namespace=path,
                depth=len(op.namespace),
                key=op.key,
                value=dict(op.value),
                created_at=now,
                updated_at=now,
                ttl_minutes=ttl,
                expires_at=expires,
            )
        else:
            StoreItem.objects.filter(pk=row.pk).update(
                value=dict(op.value), updated_at=now, ttl_minutes=ttl, expires_at=expires
            )

    def _search(self, op: SearchOp) -> list[SearchItem]:
        now = timezone.now()
        rows = StoreItem.objects.filter(self.live(now))
        if op.namespace_prefix:
            path = path_of(op.namespace_prefix)
            rows = rows.filter(Q(namespace=path) | Q(namespace__startswith=path + SEPARATOR))
        rows = rows.order_by("-updated_at", "-pk")
        offset, limit = max(op.offset, 0), max(op.limit, 0)
        if op.filter:
            found = [r for r in rows.iterator() if matches_filter(r.value, op.filter)]
            page = found[offset : offset + limit]
        else:
            page = list(rows[offset : offset + limit])
        self._refresh(page, op.refresh_ttl, now)
        return [
            SearchItem(
                namespace=namespace_of(r.namespace),
                key=r.key,
                value=r.value,
                created_at=r.created_at,
                updated_at=r.updated_at,
                score=None,
            )
            for r in page
        ]

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        now = timezone.now()
        paths = (
            StoreItem.objects.filter(self.live(now)).values_list("namespace", flat=True).distinct()
        )
        namespaces = [namespace_of(p) for p in paths]
        for condition in op.match_conditions or ():
            namespaces = [ns for ns in namespaces if namespace_matches(ns, condition)]
        if op.max_depth is not None:
            namespaces = [ns[: op.max_depth] for ns in namespaces]
        unique = sorted(set(namespaces))
        return unique[op.offset : op.offset + op.limit]


def item_of(row: StoreItem) -> Item:
    return Item(
        value=row.value,
        key=row.key,
        namespace=namespace_of(row.namespace),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def sweep_expired() -> int:
    """Delete items past their TTL (the worker's sweeper calls it); returns how many."""
    deleted, _ = StoreItem.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


# --------------------------------------------------------------------------- choice

_store: list[Any] = []
_store_key: list[Any] = []
_store_lock = threading.Lock()


def get_store() -> BaseStore:
    """The store of this process, as `YAMLGRAPH["STORE"]` says (built once per setting)."""
    config = app_settings.STORE
    with _store_lock:
        if _store and _store_key[0] == repr(config):
            return _store[0]
        store = build_store(config)
        _store[:] = [store]
        _store_key[:] = [repr(config)]
        return store


def build_store(config: Mapping[str, Any] | None) -> BaseStore:
    """A store from its setting: None / {"type": "django"}, "postgres" or "redis"."""
    config = dict(config or {})
    kind = config.pop("type", "django")
    ttl = config.get("ttl")
    if kind == "django":
        return DjangoStore(ttl=ttl)
    url = config.get("url")
    if not url:
        raise ImproperlyConfigured(f'YAMLGRAPH["STORE"]: type "{kind}" needs a "url"')
    try:
        if kind == "postgres":
            from langgraph.store.postgres import PostgresStore
            from psycopg import Connection
            from psycopg.rows import dict_row

            conn = Connection.connect(
                url, autocommit=True, prepare_threshold=0, row_factory=dict_row
            )
            store: BaseStore = PostgresStore(conn, index=config.get("index"), ttl=ttl)
        elif kind == "redis":
            from langgraph.store.redis import RedisStore
            from redis import Redis

            store = RedisStore(Redis.from_url(url), index=config.get("index"), ttl=ttl)
        else:
            raise ImproperlyConfigured(
                f'YAMLGRAPH["STORE"]: unknown type "{kind}"; known: django, postgres, redis'
            )
        store.setup()
    except ImproperlyConfigured:
        raise
    except Exception as exc:
        raise CheckpointerUnavailable(f"store {kind} unavailable: {exc}") from exc
    return store


# --------------------------------------------------------------------------- rulebook


def own_namespace_or_staff(user: Any, namespace: Sequence[str], action: str) -> bool:
    """The default store rule: staff may read and write everything; everyone else only
    namespaces whose first label is their username (`("ada", "memories")`)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_staff:
        return True
    return bool(namespace) and namespace[0] == user.get_username()


def may_access(user: Any, namespace: Sequence[str], action: str) -> bool:
    """Whether `user` may `action` ("read", "write", "delete") in `namespace`, by
    YAMLGRAPH["STORE_ACCESS"] (a dotted path or a callable)."""
    rule = app_settings.STORE_ACCESS
    if isinstance(rule, str):
        rule = import_string(rule)
    return bool(rule(user, tuple(namespace), action))


def default_scope(user: Any) -> tuple[str, ...]:
    """The namespace prefix a search without one covers for `user`: everything for
    staff (or whoever the rule lets read the root), else their own namespaces."""
    if may_access(user, (), "read"):
        return ()
    return (user.get_username(),) if getattr(user, "is_authenticated", False) else ()
