"""What the run-engine tests share: a graph whose steps take a while, and waiting for
a run that executes on another thread of the test process.

`steps` counts through four python nodes (STEP_SECONDS each, like LLM calls) and then
asks a question, so a test can act on a session while its run is between steps, and
see in the final state both what the stopped run did and what the next one answered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

STEP_SECONDS = 0.25

STEPS_TOOL = f'''

def step(state):
    """One slow step: counts how many steps ran on this thread."""
    import time

    time.sleep({STEP_SECONDS})
    return {{"steps": (state.get("steps") or 0) + 1}}
'''

STEPS_GRAPH = {
    "steps.yaml": """
        version: "1.0"
        name: steps
        description: Four slow steps, then a question.
        state:
          steps: int
          answer: str
        tools:
          step: {path: tools/checks.py, function: step}
        nodes:
          one: {type: python, tool: step}
          two: {type: python, tool: step}
          three: {type: python, tool: step}
          four: {type: python, tool: step}
          ask:
            type: interrupt
            message: "{state.steps} steps done. Your answer?"
            resume_key: answer
        edges:
          - {from: START, to: one}
          - {from: one, to: two}
          - {from: two, to: three}
          - {from: three, to: four}
          - {from: four, to: ask}
          - {from: ask, to: END}
    """
}


def wait_for(predicate: Callable[[], Any], *, timeout: float = 10.0, what: str) -> Any:
    """Poll `predicate` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class InThread:
    """Calls `target(*args, **kwargs)` on a thread (closing its database connections),
    keeping its result or exception for `result()`."""

    def __init__(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        from django.db import connections

        self.value: Any = None
        self.error: BaseException | None = None

        def body() -> None:
            try:
                self.value = target(*args, **kwargs)
            except BaseException as exc:  # handed to the test by result()
                self.error = exc
            finally:
                connections.close_all()

        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()

    def result(self, timeout: float = 30.0) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the call on the other thread did not finish"
        if self.error is not None:
            raise self.error
        return self.value
