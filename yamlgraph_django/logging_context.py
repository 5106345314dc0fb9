"""Log records carry the session and run they are about: `session_id` and `run_id`
attributes ("-" outside a run) on every record, so a formatter can print them
(`%(session_id)s`, `%(run_id)s`; the reference project's LOGGING does).

    with log_context(session_id, run_id):
        logger.info("...")   # record.session_id, record.run_id set

The ids live in context variables (threads and LangGraph's node executor copy them),
and a log record factory adds them to each record; `ContextFilter` does the same for a
project that configures filters instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

session_var: contextvars.ContextVar[str] = contextvars.ContextVar(
    "yamlgraph_session_id", default="-"
)
run_var: contextvars.ContextVar[str] = contextvars.ContextVar("yamlgraph_run_id", default="-")


@contextlib.contextmanager
def log_context(session_id: Any, run_id: Any = None) -> Iterator[None]:
    """Records logged inside carry these ids."""
    session_token = session_var.set(str(session_id))
    run_token = run_var.set("-" if run_id is None else str(run_id))
    try:
        yield
    finally:
        run_var.reset(run_token)
        session_var.reset(session_token)


def _stamp(record: logging.LogRecord) -> logging.LogRecord:
    if not hasattr(record, "session_id"):
        record.session_id = session_var.get()
    if not hasattr(record, "run_id"):
        record.run_id = run_var.get()
    return record


class ContextFilter(logging.Filter):
    """Adds `session_id` and `run_id` to the records it sees (for LOGGING "filters")."""

    def filter(self, record: logging.LogRecord) -> bool:
        _stamp(record)
        return True


_installed: list[Any] = []


def install() -> None:
    """Wrap the log record factory once per process, so every record has the ids."""
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _stamp(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed.append(factory)
