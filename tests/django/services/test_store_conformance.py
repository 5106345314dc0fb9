"""`DjangoStore` (LangGraph's store on the project's database) behaves as LangGraph's own
reference store, `InMemoryStore`: the same operations on both give the same answers
(puts, overwrites, deletes, prefix search, filters with operators, paging, namespace
listing with prefix/suffix/wildcards/max_depth), plus TTL with refresh on read."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from langgraph.store.base import InvalidNamespaceError
from langgraph.store.memory import InMemoryStore

from yamlgraph_django.services.store import DjangoStore, sweep_expired
from yamlgraph_django.store_models import StoreItem

pytestmark = pytest.mark.django_db

ITEMS = [
    (("ada", "memories"), "m1", {"text": "likes tea", "score": 3, "tags": ["a", "b"]}),
    (("ada", "memories"), "m2", {"text": "lives in Oslo", "score": 7, "meta": {"kind": "place"}}),
    (("ada", "prefs"), "p1", {"theme": "dark", "score": 5}),
    (("ada", "prefs", "ui"), "u1", {"theme": "light", "score": 1}),
    (("bob", "memories"), "m1", {"text": "likes coffee", "score": 9}),
    (("bob", "memories", "old"), "x", {"text": "gone soon", "score": 2}),
]


def fill(store: Any) -> Any:
    for namespace, key, value in ITEMS:
        store.put(namespace, key, value)
    return store


@pytest.fixture
def stores() -> tuple[Any, Any]:
    return fill(InMemoryStore()), fill(DjangoStore())


def shown(items: list[Any]) -> list[tuple]:
    return sorted((tuple(i.namespace), i.key, repr(sorted(i.value.items()))) for i in items)


@pytest.mark.parametrize(
    ("prefix", "wanted"),
    [
        ((), None),
        (("ada",), None),
        (("ada", "prefs"), None),
        (("nobody",), None),
        ((), {"score": 7}),
        ((), {"score": {"$gt": 2}}),
        ((), {"score": {"$gte": 3, "$lt": 9}}),
        ((), {"score": {"$ne": 5}}),
        (("ada",), {"theme": "dark"}),
        ((), {"meta": {"kind": "place"}}),
        ((), {"tags": ["a", "b"]}),
        ((), {"tags": ["a"]}),
        ((), {"missing": 1}),
    ],
)
def test_search_matches_the_reference_store(
    stores: tuple[Any, Any], prefix: tuple, wanted: Any
) -> None:
    reference, ours = stores
    expected = reference.search(prefix, filter=wanted, limit=100)
    got = ours.search(prefix, filter=wanted, limit=100)
    assert shown(got) == shown(expected)


def test_paging_covers_every_item_once(stores: tuple[Any, Any]) -> None:
    _reference, ours = stores
    pages = [ours.search((), limit=2, offset=offset) for offset in (0, 2, 4, 6)]
    assert [len(p) for p in pages] == [2, 2, 2, 0]
    keys = [(tuple(i.namespace), i.key) for page in pages for i in page]
    assert len(set(keys)) == len(ITEMS)
    filtered = ours.search((), filter={"score": {"$gt": 1}}, limit=2, offset=2)
    assert len(filtered) == 2


def test_get_put_overwrite_delete_like_the_reference(stores: tuple[Any, Any]) -> None:
    for store in stores:
        item = store.get(("ada", "memories"), "m1")
        assert item.value["text"] == "likes tea"
        assert item.namespace == ("ada", "memories") and item.key == "m1"
        created = item.created_at
        store.put(("ada", "memories"), "m1", {"text": "likes green tea"})
        again = store.get(("ada", "memories"), "m1")
        assert again.value == {"text": "likes green tea"}
        assert again.updated_at >= created
        if isinstance(store, DjangoStore):  # as LangGraph's Postgres store (memory resets it)
            assert again.created_at == created
        store.delete(("ada", "memories"), "m1")
        assert store.get(("ada", "memories"), "m1") is None
        assert store.get(("nobody",), "x") is None
        with pytest.raises(InvalidNamespaceError):
            store.put(("a.b",), "k", {"v": 1})
        with pytest.raises(InvalidNamespaceError):
            store.put((), "k", {"v": 1})


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"prefix": ("ada",)},
        {"suffix": ("memories",)},
        {"prefix": ("*", "memories")},
        {"max_depth": 1},
        {"max_depth": 2, "prefix": ("ada",)},
        {"limit": 2, "offset": 1},
    ],
)
def test_list_namespaces_matches_the_reference_store(
    stores: tuple[Any, Any], query: dict[str, Any]
) -> None:
    reference, ours = stores
    assert ours.list_namespaces(**query) == reference.list_namespaces(**query)


def test_ttl_expires_and_refreshes_on_read() -> None:
    store = DjangoStore()
    store.put(("ada",), "short", {"v": 1}, ttl=1.0)
    store.put(("ada",), "forever", {"v": 2})
    row = StoreItem.objects.get(key="short")
    assert row.expires_at is not None and row.ttl_minutes == 1.0
    assert StoreItem.objects.get(key="forever").expires_at is None

    # A read refreshes the TTL (LangGraph's default), unless told not to.
    soon = row.expires_at - dt.timedelta(seconds=50)
    StoreItem.objects.filter(pk=row.pk).update(expires_at=soon)
    store.get(("ada",), "short", refresh_ttl=False)
    assert StoreItem.objects.get(pk=row.pk).expires_at == soon
    store.get(("ada",), "short")
    assert StoreItem.objects.get(pk=row.pk).expires_at > soon

    # Past its expiry an item is gone for every read, then swept.
    past = row.expires_at - dt.timedelta(minutes=5)
    StoreItem.objects.filter(pk=row.pk).update(expires_at=past)
    assert store.get(("ada",), "short") is None
    assert [i.key for i in store.search(("ada",))] == ["forever"]
    assert store.list_namespaces() == [("ada",)]
    assert sweep_expired() == 1
    assert not StoreItem.objects.filter(key="short").exists()
