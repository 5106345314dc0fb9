"""Concurrent answers to one question, over HTTP, against gunicorn with 4 workers.

Two clients answer the same pending question at the same moment, hundreds of times, on
SQLite and on Postgres. Each pair says what it answered: with `If-Match` (the ETag the
client read) or with the interrupt id (`values`); some pairs send a bare `value`, as a
naive client would. Two sessions race at a time, so the four requests in flight never
exceed the server's workers and both requests of a pair are read while the same question
is pending (a bare `value` excepted: its second request may be read after the first one
finished, and then rightly answers the next question; the state says so).

What a user must never see: two 200s for one question, a losing answer stored (as the
answer to the next question or anywhere), an error other than 409 for the loser, any 5xx,
or an audit trail (Run rows) that disagrees with the session's state.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx

from tests.multiprocess.conftest import Wsgi

#: Sessions per backend; each has two questions, so twice as many racing pairs.
SESSIONS = 60
#: Sessions racing at once: two requests each, within gunicorn's 4 workers.
CONCURRENT_SESSIONS = 2
#: How a pair's clients say what they answer, in turn.
VARIANTS = ("if-match", "interrupt-id", "value")
#: What a loser may be told (409): someone else is running it, its question was answered,
#: or (the last question only) the session is completed.
LOSER_CODES = {"session_busy", "stale_question", "session_not_resumable"}


@dataclass
class Pair:
    """Two concurrent answers to one question and what the server said to each."""

    session: str
    topic: str
    question: int
    variant: str
    answers: tuple[str, str]
    statuses: list[int] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)

    @property
    def winners(self) -> list[str]:
        return [a for a, s in zip(self.answers, self.statuses, strict=True) if s == 200]

    @property
    def sequential(self) -> bool:
        """Two bare values on the first question, both 200: one answered each question."""
        return self.variant == "value" and self.question == 0 and len(self.winners) == 2

    def describe(self) -> str:
        return f"{self.variant} pair on question {self.question} of {self.session}: " + ", ".join(
            f"{a!r} -> {s} {str(b)[:300]}"
            for a, s, b in zip(self.answers, self.statuses, self.bodies, strict=True)
        )


@dataclass
class Outcome:
    """One session's pairs, its final state and its Run rows."""

    session: str
    pairs: list[Pair]
    final: dict[str, Any]
    runs: list[dict[str, Any]]
    row: dict[str, Any] | None


def race(*calls: Callable[[], httpx.Response]) -> list[httpx.Response | Exception]:
    """Run the calls in threads released together; what each returned or raised."""
    barrier = threading.Barrier(len(calls))
    results: list[httpx.Response | Exception] = [RuntimeError("did not run")] * len(calls)

    def run(index: int, call: Callable[[], httpx.Response]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as exc:  # reported by the assertions
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def answer_body(variant: str, interrupt_id: str, answer: str) -> dict[str, Any]:
    if variant == "interrupt-id":
        return {"values": {interrupt_id: answer}}
    return {"value": answer}


def run_session(wsgi: Wsgi, index: int) -> Outcome:
    """Start an interview and race two answers to each of its questions."""
    api = wsgi.api()
    topic = f"race {index}"
    started = api.start("interview", {"topic": topic})
    assert started.status_code == 201, started.text
    body, etag = started.json(), started.headers["ETag"]
    session = body["id"]
    pairs = []
    for question in (0, 1):
        if body["status"] != "interrupted":
            break  # two bare values answered both questions, one after the other
        variant = VARIANTS[(index + question) % len(VARIANTS)]
        (pending,) = body["interrupts"]
        answers = (f"s{index}q{question}a", f"s{index}q{question}b")
        pair = Pair(session, topic, question, variant, answers)
        results = race(
            *(
                partial(
                    api.resume,
                    session,
                    answer_body(variant, pending["id"], answer),
                    if_match=etag if variant == "if-match" else None,
                )
                for answer in answers
            )
        )
        for result in results:
            if isinstance(result, Exception):
                pair.statuses.append(-1)
                pair.bodies.append(repr(result))
                continue
            pair.statuses.append(result.status_code)
            try:
                pair.bodies.append(result.json())
            except ValueError:
                pair.bodies.append(result.text)
        pairs.append(pair)
        won = [r for r in results if isinstance(r, httpx.Response) and r.status_code == 200]
        if len(won) == 1:  # the winner's answer shows the state it left
            body, etag = won[0].json(), won[0].headers["ETag"]
        else:  # none (reported) or two bare values: read it
            current = api.get(session)
            assert current.status_code == 200, current.text
            body, etag = current.json(), current.headers["ETag"]
    final = api.get(session)
    assert final.status_code == 200, final.text
    return Outcome(
        session,
        pairs,
        final.json(),
        wsgi.deployment.runs(session),
        wsgi.deployment.session_row(session),
    )


def answer_of(run_value: Any) -> Any:
    """The answer a resume Run row records: the value, or the one value of `values`."""
    if isinstance(run_value, dict) and len(run_value) == 1:
        return next(iter(run_value.values()))
    return run_value


def check_pair(pair: Pair, problems: list[str]) -> None:
    """One winner (two bare values: one per question), every loser a 409 with a conflict
    code, the first question's winner shown the next question, built from its answer."""
    if len(pair.winners) != 1 and not pair.sequential:
        problems.append(f"{len(pair.winners)} winners: {pair.describe()}")
    for answer, status, body in zip(pair.answers, pair.statuses, pair.bodies, strict=True):
        if status == 200:
            if pair.question == 0 and not pair.sequential:
                asked = [i.get("value") for i in body.get("interrupts", [])]
                expected = f"Thanks {answer}. What do you want to achieve with {pair.topic}?"
                if asked != [expected]:
                    problems.append(f"winner shown {asked!r}, not {expected!r}: {pair.describe()}")
        elif status == 409:
            code = body.get("code") if isinstance(body, dict) else None
            if code not in LOSER_CODES or (code == "session_not_resumable" and pair.question == 0):
                problems.append(f"409 with code {code!r}: {pair.describe()}")
        else:
            problems.append(f"answered {status}: {pair.describe()}")


def check_outcome(outcome: Outcome, problems: list[str]) -> None:
    """The final state holds exactly the winners' answers, in the order the Run rows
    (the audit trail) recorded them, and the stored row agrees."""
    winners = [answer for pair in outcome.pairs for answer in pair.winners]
    final, runs, row = outcome.final, outcome.runs, outcome.row
    where = f"session {outcome.session}"
    kinds = [run["kind"] for run in runs]
    if kinds != ["start", "resume", "resume"]:
        problems.append(f"{where}: Run rows {kinds}, not one start and two resumes: {runs}")
        return
    if any(run["status"] != "succeeded" or run["finished_at"] is None for run in runs):
        problems.append(f"{where}: unfinished or failed Run rows: {runs}")
    recorded = [answer_of(run["value"]) for run in runs[1:]]
    if sorted(recorded) != sorted(winners):
        problems.append(f"{where}: Run rows record {recorded}, the 200s were {winners}")
    values = final.get("values") or {}
    if final.get("status") != "completed" or [values.get("name"), values.get("goal")] != recorded:
        problems.append(
            f"{where}: final {final.get('status')} name={values.get('name')!r} "
            f"goal={values.get('goal')!r}, the answers applied were {recorded}"
        )
    if row is None or row["status"] != "completed" or row["interrupts"]:
        problems.append(f"{where}: stored row {row}")


def test_concurrent_answers_to_one_question_have_one_winner(wsgi: Wsgi) -> None:
    """Hundreds of racing pairs: no double answer, losers 409, no 5xx, state == audit."""
    with ThreadPoolExecutor(CONCURRENT_SESSIONS) as pool:
        outcomes = list(pool.map(lambda index: run_session(wsgi, index), range(SESSIONS)))

    problems: list[str] = []
    for outcome in outcomes:
        for pair in outcome.pairs:
            check_pair(pair, problems)
        check_outcome(outcome, problems)
    pairs = [pair for outcome in outcomes for pair in outcome.pairs]
    statuses = Counter(status for pair in pairs for status in pair.statuses)
    five_xx = sum(count for status, count in statuses.items() if status >= 500 or status < 0)
    doubles = sum(1 for pair in pairs if len(pair.winners) > 1 and not pair.sequential)
    sequential = sum(1 for pair in pairs if pair.sequential)
    codes = Counter(
        body.get("code") for pair in pairs for body in pair.bodies if isinstance(body, dict)
    )
    summary = (
        f"{len(pairs)} pairs ({sequential} bare-value pairs answered one question each): "
        f"statuses {dict(statuses)}, codes {dict(codes)}, {doubles} double answers, {five_xx} 5xx/failed requests"
    )
    print(summary)
    assert len(pairs) >= SESSIONS * 2 - sequential, summary
    assert five_xx == 0, summary
    assert doubles == 0, summary
    assert not problems, f"{summary}\n" + "\n".join(problems[:30])
