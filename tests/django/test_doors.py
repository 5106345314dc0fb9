"""One rulebook behind every door: the same request gets the same answer through the API,
the LangGraph protocol (`/lg/`, driven by the real `langgraph-sdk` client against a live
server), the admin (its forms and buttons, posted by a logged-in browser) and the
management command (`call_command("yamlgraph", ...)`).

Each row of SCENARIOS is one thing a person tries: a bad start input, a bad answer (on a
session started through the API and on one started through `/lg/`), or an action by
someone who may not do it. Every row runs on every door that offers the action and must
end in the same family of outcome (`ok`, `invalid`, `not_found`, `forbidden`,
`unauthenticated`), with the error naming the field as that door calls it, and a refusal
must leave the session and its `Run` rows exactly as they were.

Doors that do not offer an action are left out of its rows, not skipped (NOT_OFFERED):
only `/lg/` updates a thread's state, and a shell has no anonymous caller.

The people: `owner` (alice, a plain user), `root` (a superuser), `viewer` (staff who may
view every session: `view_session`, `view_all_sessions`), `answerer` (the viewer plus
*Can answer and resume sessions*), `other` (bob, staff with `view_session` only: another
owner) and `anonymous`. Sessions are visible by permission here (SESSION_ACCESS below):
with the default rule every staff user sees every session, so in the admin, which only
staff may enter, nobody would be "another owner".
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import yaml
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db.models import Exists, Q, QuerySet
from django.test import Client, override_settings
from django.urls import reverse
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import APIStatusError
from rest_framework.test import APIClient

from tests.django.api.support import token_header
from tests.django.conftest import REPO_GRAPHS
from yamlgraph_django.exceptions import YamlgraphError
from yamlgraph_django.models import GraphDefinition, Run, Session, SessionStatus
from yamlgraph_django.services import start_session, threads

SCORED = """
    version: "1.0"
    name: scored
    description: One question whose answer must be a whole number.
    state:
      score: int
    nodes:
      ask:
        type: interrupt
        message: "Your score?"
        response: {type: integer, required: true}
        resume_key: score
    edges:
      - {from: START, to: ask}
      - {from: ask, to: END}
"""

LARGE_EXPENSE = {"amount": 500.0, "requester": "bob"}  # above 100: asks yes or no


def owner_or_view_all(user: Any, queryset: QuerySet) -> QuerySet:
    """SESSION_ACCESS of these tests: owners and holders of `view_all_sessions`."""
    if user is None or not user.is_authenticated:
        return queryset.none()
    if user.is_superuser:
        return queryset
    holders = Permission.objects.filter(
        codename="view_all_sessions", content_type__app_label="yamlgraph_django"
    ).filter(Q(user=user) | Q(group__user=user))
    return queryset.filter(Q(owner=user) | Q(Exists(holders)))


# --------------------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    family: str  # ok, invalid, not_found, forbidden, unauthenticated, conflict
    text: str  # what the door said (body, form errors, command error)


def family_of_status(status: int) -> str:
    if 200 <= status < 300:
        return "ok"
    return {
        400: "invalid",
        401: "unauthenticated",
        403: "forbidden",
        404: "not_found",
        409: "conflict",
        422: "invalid",
    }.get(status, f"http {status}")


# --------------------------------------------------------------------------- doors


class Door:
    """One way in. `answer_field` is what the door calls an answer in its errors."""

    name = ""
    answer_field = ""

    def __init__(self, env: Env) -> None:
        self.env = env


class ApiDoor(Door):
    name, answer_field = "api", "value"

    def client(self, user: Any) -> APIClient:
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=token_header(user))
        return client

    def call(self, user: Any, method: str, path: str, body: Any = None) -> Outcome:
        response = getattr(self.client(user), method)(path, body, format="json")
        return Outcome(family_of_status(response.status_code), response.content.decode())

    def start(self, user: Any, graph: str, data: dict[str, Any]) -> Outcome:
        return self.call(user, "post", "/api/sessions/", {"graph": graph, "input": data})

    def answer(self, user: Any, session: Session, value: Any, by_id: bool) -> Outcome:
        body = {"values": {interrupt_id(session): value}} if by_id else {"value": value}
        return self.call(user, "post", f"/api/sessions/{session.pk}/resume/", body)

    def cancel(self, user: Any, session: Session) -> Outcome:
        return self.call(user, "post", f"/api/sessions/{session.pk}/cancel/")

    def delete(self, user: Any, session: Session) -> Outcome:
        return self.call(user, "delete", f"/api/sessions/{session.pk}/")


class ProtocolDoor(Door):
    name, answer_field = "lg", "command.resume"

    def client(self, user: Any) -> Any:
        headers = {"Authorization": token_header(user)} if user is not None else {}
        return get_sync_client(url=self.env.lg_url, api_key=None, headers=headers)

    def call(self, user: Any, do: Callable[[Any], Any]) -> Outcome:
        try:
            result = do(self.client(user))
        except (APIStatusError, httpx.HTTPStatusError) as exc:  # SDK versions differ
            return Outcome(family_of_status(exc.response.status_code), exc.response.text)
        return Outcome("ok", json.dumps(result, default=str))

    def start(self, user: Any, graph: str, data: dict[str, Any]) -> Outcome:
        return self.call(user, lambda c: c.runs.wait(None, graph, input=data))

    def answer(self, user: Any, session: Session, value: Any, by_id: bool) -> Outcome:
        resume = {interrupt_id(session): value} if by_id else value
        graph = session.graph.name
        return self.call(
            user, lambda c: c.runs.wait(session.thread_id, graph, command={"resume": resume})
        )

    def update_state(self, user: Any, session: Session) -> Outcome:
        return self.call(
            user, lambda c: c.threads.update_state(session.thread_id, {"decision": "yes"})
        )

    def cancel(self, user: Any, session: Session) -> Outcome:
        run_id = threads.run_uuid(session.runs.order_by("pk").last())
        return self.call(user, lambda c: c.runs.cancel(session.thread_id, run_id))

    def delete(self, user: Any, session: Session) -> Outcome:
        return self.call(user, lambda c: c.threads.delete(session.thread_id))


class AdminDoor(Door):
    """The admin's own pages: the start form, the resume form, Cancel, Delete."""

    name, answer_field = "admin", "answer_0"

    def client(self, user: Any) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    def post(self, user: Any, url: str, data: dict[str, Any]) -> Outcome:
        response = self.client(user).post(url, data)
        if response.status_code == 302:
            location = response["Location"]
            if "/login/" in location:
                return Outcome("unauthenticated", location)
            if location.rstrip("/").endswith("/admin"):  # "... doesn't exist. Deleted?"
                return Outcome("not_found", location)
            return Outcome("ok", location)
        form = (response.context or {}).get("form") if response.status_code == 200 else None
        if form is not None and form.errors:
            return Outcome("invalid", json.dumps(form.errors))
        return Outcome(family_of_status(response.status_code), response.content.decode()[:500])

    def start(self, user: Any, graph: str, data: dict[str, Any]) -> Outcome:
        form = {"graph": graph, "input": "{}", "metadata": "{}", "thread_id": ""}
        for key, value in data.items():
            form[f"state_{key}"] = "" if value is None else str(value)
        return self.post(user, admin_url("start"), form)

    def answer(self, user: Any, session: Session, value: Any, by_id: bool) -> Outcome:
        ids = [i["id"] for i in session.interrupts]
        schema = session.interrupts[0].get("response_schema") or {}
        shown = "" if value is None else json.dumps(value) if "enum" in schema else str(value)
        form = {"interrupt_ids": json.dumps(ids), "answer_0": shown}
        return self.post(user, admin_url("resume", session.pk), form)

    def cancel(self, user: Any, session: Session) -> Outcome:
        return self.post(user, admin_url("cancel", session.pk), {"post": "yes"})

    def delete(self, user: Any, session: Session) -> Outcome:
        return self.post(user, admin_url("delete", session.pk), {"post": "yes"})


class CommandDoor(Door):
    name, answer_field = "command", "value"

    def run(self, user: Any, *args: str) -> Outcome:
        out = io.StringIO()
        as_user = ["--user", user.get_username()] if user is not None else []
        try:
            call_command("yamlgraph", *args, *as_user, stdout=out, stderr=out, stdin=io.StringIO())
        except CommandError as exc:
            cause = exc.__cause__
            status = cause.status_code if isinstance(cause, YamlgraphError) else 400
            return Outcome(family_of_status(status), str(exc))
        return Outcome("ok", out.getvalue())

    def start(self, user: Any, graph: str, data: dict[str, Any]) -> Outcome:
        return self.run(user, "run", graph, "--input", json.dumps(data))

    def answer(self, user: Any, session: Session, value: Any, by_id: bool) -> Outcome:
        if by_id:
            given = ["--values", json.dumps({interrupt_id(session): value})]
        else:
            given = ["--value", json.dumps(value)]
        return self.run(user, "resume", str(session.pk), *given)

    def cancel(self, user: Any, session: Session) -> Outcome:
        return self.run(user, "cancel", str(session.pk))

    def delete(self, user: Any, session: Session) -> Outcome:
        return self.run(user, "delete", str(session.pk))


DOORS = {door.name: door for door in (ApiDoor, ProtocolDoor, AdminDoor, CommandDoor)}

#: (action, door or actor) combinations no door offers: left out of the table.
NOT_OFFERED = {
    "update_state": {"api", "admin", "command"},  # only /lg/ writes a thread's state
    "anonymous": {"command"},  # a shell has no anonymous caller: it is the operator
}


def admin_url(name: str, *args: Any) -> str:
    return reverse(f"admin:yamlgraph_django_session_{name}", args=args)


def interrupt_id(session: Session) -> str:
    return str(session.interrupts[0]["id"])


# --------------------------------------------------------------------------- the table


@dataclass
class Scenario:
    id: str
    action: str  # start, answer, update_state, cancel, delete
    actor: str
    expected: set[str]
    graph: str = "approval"
    data: dict[str, Any] = field(default_factory=dict)  # start input
    value: Any = None  # an answer
    by_id: bool = False
    names: str = ""  # what the error must name ("answer": the door's answer field)


SCENARIOS = [
    # What a start input may be: the graph's declared types and required fields.
    Scenario(
        "start without a required field",
        "start",
        "root",
        {"invalid"},
        data={"requester": "bob"},
        names="amount",
    ),
    Scenario(
        "start with a wrong type",
        "start",
        "root",
        {"invalid"},
        data={"amount": "abc", "requester": "bob"},
        names="amount",
    ),
    Scenario(
        "start with null",
        "start",
        "root",
        {"invalid"},
        data={"amount": None, "requester": "bob"},
        names="amount",
    ),
    # The admin offers registered graphs only (its choice field refuses others): that
    # is the form's "invalid"; the others answer 404 (/lg/: 422, an unknown assistant).
    Scenario(
        "start an unknown graph",
        "start",
        "root",
        {"not_found", "invalid"},
        graph="nope",
        data={"amount": 5.0},
        names="nope",
    ),
    # What an answer may be: the question's choices or response schema.
    Scenario(
        "answer outside choices", "answer", "root", {"invalid"}, value="maybe", names="answer"
    ),
    Scenario(
        "answer outside choices by interrupt id",
        "answer",
        "root",
        {"invalid"},
        value="maybe",
        by_id=True,
        names="answer",
    ),
    Scenario(
        "answer failing its response schema",
        "answer",
        "root",
        {"invalid"},
        graph="scored",
        value="abc",
        names="answer",
    ),
    Scenario("answer null", "answer", "root", {"invalid"}, value=None, names="answer"),
    Scenario("a good answer", "answer", "root", {"ok"}, value="yes"),
    # Who may do what.
    *[
        Scenario(f"{action} by {actor}", action, actor, expected, value="yes")
        for actor, verdicts in {
            "viewer": {"answer": "forbidden", "update_state": "forbidden", "cancel": "forbidden"}
            | {"delete": "forbidden"},
            "answerer": {"answer": "ok", "update_state": "forbidden", "cancel": "forbidden"}
            | {"delete": "forbidden"},
            "other": dict.fromkeys(("answer", "update_state", "cancel", "delete"), "not_found"),
            "anonymous": dict.fromkeys(
                ("answer", "update_state", "cancel", "delete"), "unauthenticated"
            ),
            "owner": {"cancel": "ok", "delete": "ok", "update_state": "ok"},
        }.items()
        for action, expected_family in verdicts.items()
        for expected in [{expected_family}]
    ],
]


def cases() -> list[Any]:
    params = []
    for scenario in SCENARIOS:
        for door in DOORS:
            if door in NOT_OFFERED.get(scenario.action, ()):
                continue
            if door in NOT_OFFERED.get(scenario.actor, ()):
                continue
            if scenario.actor == "owner" and door == "admin":
                continue  # alice is no staff: the admin is for staff (see `other`)
            starts = ["api", "lg"] if scenario.action == "answer" and scenario.names else ["api"]
            for started_on in starts:
                case_id = f"{scenario.id} [{door}]"
                if len(starts) > 1:
                    case_id += f" (started on {started_on})"
                params.append(pytest.param(scenario, door, started_on, id=case_id))
    return params


# --------------------------------------------------------------------------- fixtures


@dataclass
class Env:
    lg_url: str
    people: dict[str, Any]


@pytest.fixture
def env(
    live_server: Any,
    transactional_db: None,
    yamlgraph_settings: dict[str, Any],
    register_graphs: Callable[..., dict[str, GraphDefinition]],
    make_user: Callable[..., Any],
    django_user_model: Any,
) -> Any:
    access = "tests.django.test_doors.owner_or_view_all"
    with override_settings(YAMLGRAPH={**yamlgraph_settings, "SESSION_ACCESS": access}):
        register_graphs("", {"scored.yaml": SCORED, "approval.yaml": unassigned_approval()})
        people = {
            "owner": make_user("alice"),
            "root": django_user_model.objects.create_superuser("root", "root@example.com"),
            "viewer": make_user("viewer", staff=True, perms=("view_session", "view_all_sessions")),
            "answerer": make_user(
                "answerer",
                staff=True,
                perms=("view_session", "view_all_sessions", "resume_session"),
            ),
            "other": make_user("bob", staff=True, perms=("view_session",)),
            "anonymous": None,
        }
        yield Env(f"{live_server.url}/lg", people)


def unassigned_approval() -> str:
    """The example approval graph without its `assign:` (it asks the finance group): the
    matrix is the owner rules of a question nobody is assigned; who answers an assigned
    one, on every door, is tests/django/questions/test_rules.py."""
    data = yaml.safe_load((REPO_GRAPHS / "approval.yaml").read_text(encoding="utf-8"))
    data["nodes"]["ask_approver"].pop("assign", None)
    return yaml.safe_dump(data, sort_keys=False)


def waiting_session(env: Env, graph: str, started_on: str) -> Session:
    """An interrupted session of alice's, started through the API's service call or
    through `/lg/` (whose sessions must carry the same response schemas)."""
    data = LARGE_EXPENSE if graph == "approval" else {}
    alice = env.people["owner"]
    if started_on == "lg":
        client = ProtocolDoor(env).client(alice)
        thread = client.threads.create()
        client.runs.wait(thread["thread_id"], graph, input=data)
        session = Session.objects.get(thread_id=thread["thread_id"])
    else:
        session = start_session(graph, data, owner=alice, channel="api")
    assert session.status == SessionStatus.INTERRUPTED
    return session


def rows() -> tuple[Any, ...]:
    """Everything a refused request must leave as it was."""
    sessions = list(
        Session.objects.order_by("pk").values_list(
            "pk", "status", "revision", "interrupts", "output", "error", "input", "metadata"
        )
    )
    runs = list(Run.objects.order_by("pk").values_list("pk", "status", "error", "value"))
    return sessions, runs


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize(("scenario", "door_name", "started_on"), cases())
def test_every_door_gives_the_same_answer(
    env: Env, scenario: Scenario, door_name: str, started_on: str
) -> None:
    door = DOORS[door_name](env)
    actor = env.people[scenario.actor]
    session = None
    if scenario.action != "start":
        session = waiting_session(env, scenario.graph, started_on)
        if started_on == "lg":
            assert session.interrupts[0]["response_schema"]["required"] is True
    before = rows()

    if scenario.action == "start":
        outcome = door.start(actor, scenario.graph, scenario.data)
    elif scenario.action == "answer":
        outcome = door.answer(actor, session, scenario.value, scenario.by_id)
    else:
        outcome = getattr(door, scenario.action)(actor, session)

    assert outcome.family in scenario.expected, outcome.text
    named = door.answer_field if scenario.names == "answer" else scenario.names
    assert named in outcome.text, outcome.text
    assert "__error__" not in outcome.text and "Traceback" not in outcome.text
    if outcome.family == "ok":
        # /lg/ cancels a run, and the waiting session's last run has ended: nothing to stop.
        if (scenario.action, door_name) != ("cancel", "lg"):
            assert rows() != before  # it did something
        if scenario.action == "delete":
            assert not Session.objects.filter(pk=session.pk).exists()
    else:
        assert rows() == before  # nothing claimed, stored or run


def test_the_table_covers_every_door_and_action() -> None:
    """A door left out of an action is listed in NOT_OFFERED, never silently."""
    covered = {(p.values[0].action, p.values[1]) for p in cases()}
    for action in ("start", "answer", "update_state", "cancel", "delete"):
        for door in DOORS:
            offered = door not in NOT_OFFERED.get(action, ())
            assert ((action, door) in covered) == offered, (action, door)


def test_someone_elses_thread_is_404_even_when_asked_to_create_it(env: Env) -> None:
    """`if_not_exists: "create"` and `POST /threads` with a taken id say nothing about
    whose thread it is: 404 like every other call, and the thread is as it was."""
    session = waiting_session(env, "approval", "lg")
    before = rows()
    bob = ProtocolDoor(env).client(env.people["other"])

    for call in (
        lambda: bob.runs.wait(
            session.thread_id, "approval", input=LARGE_EXPENSE, if_not_exists="create"
        ),
        lambda: bob.threads.create(thread_id=session.thread_id, if_exists="raise"),
        lambda: bob.threads.update_state(session.thread_id, {"decision": "yes"}),
    ):
        with pytest.raises((APIStatusError, httpx.HTTPStatusError)) as caught:
            call()
        assert caught.value.response.status_code == 404
    assert rows() == before


@pytest.mark.parametrize("resume", [None, "maybe", 1, True])
def test_a_raw_resume_outside_the_question_is_400_naming_the_field(env: Env, resume: Any) -> None:
    """What a script sends without the SDK (which drops `resume: None`): refused with the
    field named, never run into a graph error (`200 {"__error__": ...}`)."""
    session = waiting_session(env, "approval", "lg")
    before = rows()
    token = token_header(env.people["owner"])

    response = httpx.post(
        f"{env.lg_url}/threads/{session.thread_id}/runs/wait",
        json={"assistant_id": "approval", "command": {"resume": resume}},
        headers={"Authorization": token},
    )

    assert response.status_code == 400, response.text
    assert "command.resume" in response.json()["errors"]
    assert rows() == before
