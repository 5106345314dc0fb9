import pytest, redis
from django.test import override_settings
from yamlgraph_django import runtime
from yamlgraph_django.services import delete_session, get_state, get_history, resume_session, start_session

pytestmark = pytest.mark.django_db

def test_dbg(graphs, yamlgraph_settings, redis_clean_url):
    store = {"type": "redis", "url": redis_clean_url}
    client = redis.Redis.from_url(redis_clean_url)
    print("KEYS0", client.dbsize(), client.execute_command("FT._LIST"))
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "CHECKPOINTER_OVERRIDE": store}):
        keep = start_session("interview")
        saver = list(runtime._savers.values())[0]
        print("KEEP start", keep.interrupts)
        t = saver.get_tuple({"configurable": {"thread_id": keep.thread_id, "checkpoint_ns": ""}})
        print("TUPLE writes", t.pending_writes)
        print("KEYS", sorted(k.decode() for k in client.scan_iter(match=f"*{keep.thread_id}*")))
        for idx in client.execute_command("FT._LIST"):
            info = client.execute_command("FT.INFO", idx)
            d = dict(zip(info[::2], info[1::2]))
            print("IDX", idx, d.get(b"num_docs"), d.get(b"index_definition"), d.get(b"hash_indexing_failures"))
