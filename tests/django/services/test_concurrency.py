"""Two people answering one session at the same moment: exactly one answer runs.

Real threads, real database connections and a real checkpoint file; the barrier releases
both resumes together. The loser sees the session either still running (SessionBusy)
or already finished (SessionNotResumable), depending on how fast the winner was.
"""

from __future__ import annotations

import pytest

from tests.django.concurrency import race as race_threads
from yamlgraph_django.exceptions import SessionBusy, SessionNotResumable
from yamlgraph_django.models import RunKind, Session, SessionStatus
from yamlgraph_django.services import cancel_session, resume_session, start_session

ROUNDS = 5


def race(*actions) -> list[tuple[str, object]]:
    """Run the callables in threads released together; [(outcome, result-or-error)]."""
    return [_outcome(result) for result in race_threads(*actions)]


def _outcome(result: object) -> tuple[str, object]:
    if isinstance(result, SessionBusy | SessionNotResumable):
        return (type(result).__name__, result)
    if isinstance(result, Exception):  # surfaced by the assertions below
        return ("error", result)
    return ("ok", result)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_resumes_at_once_run_exactly_one(graphs, round_):
    session = start_session("checked")

    results = race(
        lambda: resume_session(session.pk, "first", channel="api"),
        lambda: resume_session(session.pk, "second", channel="admin"),
    )

    outcomes = sorted(kind for kind, _ in results)
    assert outcomes[1] == "ok", results
    assert outcomes[0] in {"SessionBusy", "SessionNotResumable"}, results
    winner = "first" if results[0][0] == "ok" else "second"
    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED
    assert session.output["answer"] == winner
    assert session.output["result"] == f"accepted {winner}"
    assert list(session.runs.filter(kind=RunKind.RESUME).values_list("value", flat=True)) == [
        winner
    ]


@pytest.mark.django_db(transaction=True)
def test_a_resume_racing_a_cancel_never_does_both(graphs):
    for _ in range(ROUNDS):
        session = start_session("checked")

        results = race(
            lambda s=session: resume_session(s.pk, "yes"),
            lambda s=session: cancel_session(s.pk),
        )

        kinds = [kind for kind, _ in results]
        assert "error" not in kinds, results
        final = Session.objects.get(pk=session.pk)
        if kinds[1] == "ok":  # the cancel won: the answer never ran, or stopped mid-run
            assert final.status == SessionStatus.CANCELLED
            resumes = list(final.runs.filter(kind=RunKind.RESUME))
            if kinds[0] == "ok":  # the cancel stopped the running answer at a step
                assert [r.error for r in resumes] == ["cancelled while it ran"]
            else:
                assert kinds[0] in {"SessionNotResumable", "SessionBusy"}
                assert not resumes
        else:  # the resume won: the cancel saw it running or finished
            assert kinds == ["ok", kinds[1]]
            assert final.status == SessionStatus.COMPLETED
            assert kinds[1] in {"SessionBusy", "SessionNotResumable"}
