"""The API keeps to its OpenAPI document, as `schemathesis run -c all` would check it.

Schemathesis generates requests from the document against the WSGI app (in process, no
network) and runs every check it has on each answer: no 5xx; status codes, content
types, headers and bodies as documented; requests that fit the document accepted and
requests that break it refused; no answer without credentials. A bounded number of
examples per operation keeps it within `make test`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.django.api.support import token_header
from yamlgraph_django.services import start_session

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 10


def all_checks() -> list[Any]:
    """Every check schemathesis has, as `-c all` selects them."""
    load_all_checks()
    return list(CHECKS.get_all())


#: What the document cannot say, told to schemathesis as its config file would:
#: - NUL is refused in every string with a 400 (PostgreSQL cannot store it), which an
#:   OpenAPI 3.0 document cannot say of free-form JSON (`--generation-allow-x00 false`);
#: - an answer must fit the session's pending question (its interrupt ids and
#:   `response_schema`, in the session), so a well-formed resume may still be a 400.
CONFIG = {
    "generation": {"allow-x00": False},
    "operations": [
        {
            "include-path": "/api/sessions/{id}/resume/",
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "400", "401", "403", "404", "409"]
                }
            },
        },
        {
            # A question is claimed, released or handed on only by its assignees, and
            # only to users and groups that exist (issue 20).
            "include-path-regex": "^/api/questions/",
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "400", "401", "403", "404"]
                }
            },
        },
    ],
}


@contextmanager
def keeping_the_test_connection() -> Iterator[None]:
    """Requests through the raw WSGI app without losing the test's database connection.

    A WSGI request ends with `close_old_connections`, which would close the connection
    holding the test's transaction; Django's test client disconnects it the same way
    (and reconnects it after each of its own requests, so no test client calls inside).
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_every_check_passes_on_generated_requests(graphs, alice):
    token = token_header(alice)

    def live_session() -> str:
        return str(start_session("interview", owner=alice, channel="api").pk)

    with keeping_the_test_connection():
        seen = fuzz_every_operation(live_session, {"Authorization": token})

    positive = {label: codes for (label, mode), codes in seen.items() if mode == "positive"}
    negative = {label for (label, mode) in seen if mode == "negative"}
    assert len(positive) == 16, seen  # stream/, health/, the inbox and the questions included
    # Authenticated for real: the reads that cannot miss did succeed.
    for label in ("GET /api/graphs/", "GET /api/sessions/", "GET /api/sessions/{id}/"):
        assert 200 in positive[label], (label, positive[label])
    # Steered at real graphs and single answers, generated bodies start and answer sessions.
    assert seen[("POST /api/sessions/", "steered")] & {201, 202}, seen
    assert 200 in seen[("POST /api/sessions/{id}/resume/", "steered")], seen
    assert negative >= {
        "GET /api/sessions/",
        "POST /api/sessions/",
        "POST /api/sessions/{id}/resume/",
        "GET /api/sessions/{id}/history/",
    }, seen


def test_the_document_says_what_a_start_needs(client):
    document = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    start = document["components"]["schemas"]["SessionCreate"]

    assert start["required"] == ["graph"]
    assert {"graph", "input", "metadata", "thread_id", "background"} <= set(start["properties"])
    assert start["additionalProperties"] is False


def test_an_empty_start_is_a_400_naming_graph(api):
    response = api.post("/api/sessions/", {}, format="json")

    assert response.status_code == 400
    assert "graph" in response.json()["errors"]


def fuzz_every_operation(
    live_session: Callable[[], str], headers: dict[str, str]
) -> dict[tuple[str, str], set[int]]:
    """Per operation, EXAMPLES_PER_OPERATION requests that fit the document and as many
    that break it (wrong types, missing fields), through every check. Operations on one
    session aim at a fresh live one, so they get past the 404.
    Returns the status codes seen per (operation, generation mode)."""
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/", get_wsgi_application(), config=SchemathesisConfig.from_dict(CONFIG)
    )
    seen: dict[tuple[str, str], set[int]] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation, mode in itertools.product(operations, GenerationMode):
        path_parameters = {"id": live_session()} if "{id}" in operation.path else None
        try:
            codes = fuzz(operation, mode, path_parameters, headers)
        except Unsatisfiable:
            # Nothing about this operation can be made invalid (GET /api/graphs/ has no
            # parameters or body); only the negative pass may find that.
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        seen[(operation.label, mode.value)] = codes
        if operation.label in STEERED:
            path_parameters = {"id": live_session()} if "{id}" in operation.path else None
            seen[(operation.label, "steered")] = fuzz(
                operation, GenerationMode.POSITIVE, path_parameters, headers, steer=True
            )
    return seen


#: Operations whose random bodies almost never get past validation (a random graph name
#: is unknown; random `value` plus `values` is refused), so they also run steered.
STEERED = {"POST /api/sessions/", "POST /api/sessions/{id}/resume/"}
GRAPH_NAMES = ["interview", "approval", "support-router", "pair", "checked"]


#: Answers as people give them: text, numbers, yes/no, nothing, a list of choices.
ANSWERS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.text(),
    st.lists(st.text(max_size=10), max_size=3),
)


def steered(case: Any, graph: str, answer: Any) -> Any:
    """`case` aimed at a real graph, or carrying one answer instead of an answer map.

    The body is replaced, not edited: generated bodies may share one dict object.
    """
    if isinstance(case.body, dict):
        body = {key: value for key, value in case.body.items() if key != "values"}
        if case.operation.path == "/api/sessions/":
            body["graph"] = graph
        else:
            body.setdefault("value", answer)
        case.body = body
    return case


def fuzz(
    operation: Any,
    mode: GenerationMode,
    path_parameters: dict[str, str] | None,
    headers: dict[str, str],
    *,
    steer: bool = False,
) -> set[int]:
    """Run one operation's generated requests through every check; the codes answered."""
    codes: set[int] = set()
    checks = all_checks()
    if steer:
        # A real graph's `input` must hold its required state fields, and an answer must
        # fit the pending question: the graph and the session say so (GET /graphs/{name}/,
        # `interrupts[].response_schema`), not the document, so a 400 is no breach here.
        checks = [check for check in checks if check is not positive_data_acceptance]
    cases = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
    if steer:
        cases = st.tuples(cases, st.sampled_from(GRAPH_NAMES), ANSWERS).map(
            lambda drawn: steered(*drawn)
        )

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def check(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=checks)
        codes.add(response.status_code)

    check()
    return codes
