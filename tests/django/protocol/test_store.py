"""`/lg/store/*` with the real Python SDK (`client.store`): items with TTL, search with
filters and paging, namespaces, who may touch which namespace, and a graph's python
tool writing to the same store through its `store` parameter."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import HTTPStatusError

from yamlgraph_django.store_models import StoreItem

STORE_TOOL = '''

def remember(state, store):
    """Keeps the answer in the long-term store, under the answerer's namespace."""
    store.put(("alice", "answers"), "latest", {"answer": state.get("answer")})
    return {"result": "remembered"}
'''

STORE_GRAPH = {
    "remembering.yaml": """
        version: "1.0"
        name: remembering
        description: Asks one question and remembers the answer in the store.
        state:
          answer: str
          result: str
        tools:
          remember: {path: tools/checks.py, function: remember}
        nodes:
          ask:
            type: interrupt
            message: "Your answer?"
            resume_key: answer
          keep:
            type: python
            tool: remember
        edges:
          - {from: START, to: ask}
          - {from: ask, to: keep}
          - {from: keep, to: END}
    """
}


def test_store_items_search_namespaces_and_ttl(sdk: Any) -> None:
    store = sdk.store
    store.put_item(["alice", "memories"], "m1", {"text": "likes tea", "score": 3})
    store.put_item(["alice", "memories"], "m2", {"text": "lives in Oslo", "score": 7}, ttl=5)
    store.put_item(["alice", "prefs"], "theme", {"theme": "dark"})

    item = store.get_item(["alice", "memories"], "m1")
    assert item["value"] == {"text": "likes tea", "score": 3}
    assert item["namespace"] == ["alice", "memories"] and item["key"] == "m1"
    assert item["created_at"] and item["updated_at"]
    assert StoreItem.objects.get(key="m2").ttl_minutes == 5

    found = store.search_items(["alice"], filter={"score": {"$gt": 4}})
    assert [i["key"] for i in found["items"]] == ["m2"]
    everything = store.search_items(["alice"], limit=2)
    rest = store.search_items(["alice"], limit=2, offset=2)
    assert len(everything["items"]) == 2 and len(rest["items"]) == 1
    # No prefix: a user's search covers their own namespaces.
    assert len(store.search_items([], limit=10)["items"]) == 3

    assert store.list_namespaces(prefix=["alice"]) == {
        "namespaces": [["alice", "memories"], ["alice", "prefs"]]
    }
    assert store.list_namespaces(max_depth=1) == {"namespaces": [["alice"]]}

    store.delete_item(["alice", "prefs"], "theme")
    with pytest.raises(HTTPStatusError) as missing:
        store.get_item(["alice", "prefs"], "theme")
    assert missing.value.response.status_code == 404


def test_store_rule_and_bad_input(sdk: Any, bob: Any, sync_client_for: Any, make_user: Any) -> None:
    sdk.store.put_item(["alice", "notes"], "n", {"secret": 1})
    other = sync_client_for(bob)
    for call in (
        lambda: other.store.get_item(["alice", "notes"], "n"),
        lambda: other.store.put_item(["alice", "notes"], "n", {"x": 1}),
        lambda: other.store.search_items(["alice"]),
        lambda: other.store.delete_item(["alice", "notes"], "n"),
    ):
        with pytest.raises(HTTPStatusError) as refused:
            call()
        assert refused.value.response.status_code == 403
        assert "alice" in refused.value.response.text
    assert other.store.search_items([])["items"] == []  # bob sees only his own
    assert other.store.list_namespaces() == {"namespaces": []}

    staff = sync_client_for(make_user("carol", staff=True))
    assert staff.store.get_item(["alice", "notes"], "n")["value"] == {"secret": 1}
    assert staff.store.list_namespaces() == {"namespaces": [["alice", "notes"]]}

    with pytest.raises(HTTPStatusError) as bad:
        sdk.http.put("/store/items", json={"namespace": ["alice"], "key": "k", "value": 3})
    assert bad.value.response.status_code == 400 and "value" in bad.value.response.text
    with pytest.raises(HTTPStatusError) as bad_ttl:
        sdk.http.put(
            "/store/items",
            json={"namespace": ["alice"], "key": "k", "value": {}, "ttl": -1},
        )
    assert "ttl" in bad_ttl.value.response.text


def test_a_python_tool_gets_the_store(
    alice: Any, sync_client_for: Any, register_graphs: Any
) -> None:
    register_graphs(STORE_TOOL, STORE_GRAPH)
    client = sync_client_for(alice)
    thread = client.threads.create()["thread_id"]
    client.runs.wait(thread, "remembering", input={})
    done = client.runs.wait(thread, "remembering", command={"resume": "forty-two"})
    assert done["result"] == "remembered"
    item = client.store.get_item(["alice", "answers"], "latest")
    assert item["value"] == {"answer": "forty-two"}


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.redis), "postgres"])
def langgraph_store(request: pytest.FixtureRequest, yamlgraph_settings: Any) -> Any:
    """YAMLGRAPH["STORE"] naming LangGraph's Redis store (the test Valkey, with
    RediSearch) or its Postgres store (skipped without DATABASE_URL)."""
    from django.test import override_settings

    if request.param == "redis":
        config = {"type": "redis", "url": request.getfixturevalue("redis_clean_url")}
    else:
        config = {"type": "postgres", "url": request.getfixturevalue("postgres_url")}
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "STORE": config}):
        yield config["type"]


def test_langgraph_stores_by_setting(langgraph_store: str, sdk: Any) -> None:
    from yamlgraph_django.services.store import get_store

    expected = {"redis": "RedisStore", "postgres": "PostgresStore"}[langgraph_store]
    assert type(get_store()).__name__ == expected
    sdk.store.put_item(["alice", "notes"], "n1", {"text": "kept elsewhere", "n": 1})
    sdk.store.put_item(["alice", "notes"], "n2", {"text": "also", "n": 2})
    found = sdk.store.search_items(["alice", "notes"], filter={"n": 2})
    assert [i["key"] for i in found["items"]] == ["n2"]
    assert StoreItem.objects.count() == 0  # not in the database table
    sdk.store.delete_item(["alice", "notes"], "n1")
    assert [i["key"] for i in sdk.store.search_items(["alice"])["items"]] == ["n2"]
    if langgraph_store == "postgres":
        assert sdk.store.get_item(["alice", "notes"], "n2")["value"]["text"] == "also"


@pytest.mark.xfail(
    strict=True,
    reason="langgraph-checkpoint-redis 0.5.2: RedisStore.get() finds nothing on the test "
    "Valkey (valkey-search) although search() finds the item; an upstream limitation",
)
def test_redis_store_get(redis_clean_url: str) -> None:
    from langgraph.store.redis import RedisStore
    from redis import Redis

    store = RedisStore(Redis.from_url(redis_clean_url))
    store.setup()
    store.put(("alice", "notes"), "n1", {"text": "x"})
    assert store.get(("alice", "notes"), "n1") is not None
