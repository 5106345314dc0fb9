import pytest
pytestmark = pytest.mark.django_db

def test_edges(api, start):
    s = start("interview")
    cases = [
        ("get", "/api/sessions/", {"metadata__x": "1" * 40}),
        ("get", "/api/sessions/", {"metadata__x": "1e308"}),
        ("get", "/api/sessions/", {"created_after": "2024-01-01T00:00:00+17:46"}),
        ("get", "/api/sessions/", {"created_after": "9999-12-31T23:59:59-08:00"}),
        ("get", "/api/sessions/", {"created_after": "0001-01-01T00:00:00+08:00"}),
        ("get", "/api/sessions/", {"graph": "a\x00b"}),
        ("get", "/api/sessions/", {"page_size": "-1"}),
        ("get", "/api/sessions/", {"page": "0"}),
        ("get", f"/api/sessions/{s['id']}/history/", {"before": "zzz"}),
        ("post", "/api/sessions/", {"graph": "approval", "input": {"amount": 10**30, "requester": "x"}}),
        ("post", "/api/sessions/", {"graph": "approval", "input": {"amount": 10**30}, "metadata": {"big": 10**30}}),
        ("post", "/api/sessions/", {"graph": "interview", "input": {"topic": "a\x00"}}),
        ("post", "/api/sessions/", {"graph": "inter\x00view"}),
        ("post", f"/api/sessions/{s['id']}/resume/", {"value": 10**30}),
        ("post", f"/api/sessions/{s['id']}/resume/", {"value": {"k": "\x00"}}),
        ("get", "/api/graphs/a%00b/", None),
        ("get", "/api/", None),
    ]
    for method, url, data in cases:
        if method == "get":
            r = api.get(url, data)
        else:
            r = api.post(url, data, format="json")
        print(method, url, str(data)[:80], r.status_code, r.content[:300])
