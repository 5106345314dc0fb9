"""The rulebook (services.rules): a project's own policy plugs in through
YAMLGRAPH["RULES"] and holds on every service call; a wrong setting is refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from yamlgraph_django.exceptions import NotPermitted, SessionNotFound
from yamlgraph_django.models import Session, SessionStatus
from yamlgraph_django.services import (
    cancel_session,
    delete_session,
    get_state,
    resume_session,
    rules,
    start_session,
)

pytestmark = pytest.mark.django_db

ASKED: list[tuple[str, str, Any]] = []


class NoAnswersOnFridays(rules.BasePolicy):
    """A project's own rule: only its answer check says no, and it sees what is answered."""

    message = "Answers are closed today."

    def has_object_permission(
        self, user: Any, action: str, session: Any, target: Sequence[str] | None = None
    ) -> bool:
        ASKED.append((user.get_username(), str(action), target))
        return action != rules.Action.ANSWER


@pytest.fixture
def own_rules(yamlgraph_settings: dict[str, Any]) -> Any:
    ASKED.clear()
    value = {
        **yamlgraph_settings,
        "RULES": [
            "yamlgraph_django.services.rules.SessionRules",
            "tests.django.services.test_rules.NoAnswersOnFridays",
        ],
    }
    with override_settings(YAMLGRAPH=value):
        yield


def test_a_projects_policy_is_asked_with_the_interrupts_answered(
    graphs: Any, make_user: Any, own_rules: None
) -> None:
    alice = make_user("alice")
    session = start_session("pair", owner=alice)
    first = session.interrupts[0]["id"]

    with pytest.raises(NotPermitted) as caught:
        resume_session(session, values={first: "tea"}, actor=alice)

    assert caught.value.status_code == 403 and caught.value.detail == "Answers are closed today."
    assert ("alice", "answer", [first]) in ASKED
    session.refresh_from_db()
    assert session.status == SessionStatus.INTERRUPTED and session.runs.count() == 1
    # The other actions stay the app's: the owner reads and cancels.
    assert get_state(session, actor=alice)["interrupts"]
    assert cancel_session(session, actor=alice).status == SessionStatus.CANCELLED
    # The system itself (actor None: commands, tasks) is never asked.
    ASKED.clear()
    delete_session(session)
    assert ASKED == [] and not Session.objects.filter(pk=session.pk).exists()


def test_owners_act_others_need_the_permission_strangers_see_nothing(
    graphs: Any, make_user: Any
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    viewer = make_user("viewer", staff=True, perms=("view_session",))
    deleter = make_user("deleter", staff=True, perms=("delete_session",))
    session = start_session("interview", owner=alice)

    with pytest.raises(SessionNotFound):
        resume_session(session, "Bob", actor=bob)  # someone else's: 404, like no session
    for act in (
        lambda: resume_session(session, "Vi", actor=viewer),
        lambda: cancel_session(session, actor=viewer),
        lambda: delete_session(session, actor=viewer),
    ):
        with pytest.raises(NotPermitted):
            act()
    assert rules.allowed(viewer, "view", session)
    assert not rules.allowed(viewer, "answer", session)
    assert rules.allowed(deleter, "delete", session)
    assert not rules.allowed(deleter, "cancel", session)

    resume_session(session, "Ada", actor=alice)  # the owner needs no permission
    assert session.runs.count() == 2


def test_an_unknown_policy_path_is_refused_naming_the_setting(
    yamlgraph_settings: dict[str, Any],
) -> None:
    for wrong in ("yamlgraph_django.services.rules.NoSuchRules", "builtins.dict"):
        with override_settings(YAMLGRAPH={**yamlgraph_settings, "RULES": [wrong]}):
            with pytest.raises(ImproperlyConfigured, match=r"YAMLGRAPH\['RULES'\]"):
                rules.policies()
            errors = [m for m in run_checks(tags=["yamlgraph"]) if m.id == "yamlgraph.E020"]
            assert len(errors) == 1 and wrong in errors[0].msg
