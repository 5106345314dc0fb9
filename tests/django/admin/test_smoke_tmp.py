import re
import pytest
from tests.django.admin.conftest import url, messages_of

pytestmark = pytest.mark.django_db


def text(r):
    h = r.content.decode()
    h = h[h.find('id="content-main"') :]
    h = re.sub(r"<script.*?</script>", "", h, flags=re.S)
    h = re.sub(r"<[^>]+>", " ", h)
    return re.sub(r"\s+", " ", h)


def test_smoke(admin_client, start, graphs):
    s = start("interview", {"topic": "Django"})
    from yamlgraph_django import services

    s2 = start("approval", {"amount": 5000.0, "requester": "Bob"})
    print(s2.status, s2.interrupts, s2.error)
    r = admin_client.get(url("session_change", s.pk))
    print(text(r))
    r = admin_client.get(url("session_changelist"))
    print(text(r))
    r = admin_client.get(url("graphdefinition_change", graphs["approval"].pk))
    print(text(r))
    r = admin_client.get(url("session_resume", s2.pk))
    print(text(r))
