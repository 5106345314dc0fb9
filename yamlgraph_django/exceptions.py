"""Typed errors of the app, shared by the service, the API, the admin and the commands.

Each error knows the HTTP status and the machine-readable `code` it maps to, so the API
answers `{"detail": ..., "code": ...}` without a lookup table, and commands and the admin
can show `detail` as the one-line reason.
"""

from __future__ import annotations

from typing import Any


class YamlgraphError(Exception):
    """Base of every error the app raises on purpose (as opposed to bugs)."""

    status_code: int = 500
    code: str = "error"
    default_detail: str = "The graph service failed."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)


class GraphNotFound(YamlgraphError):
    """No registered graph (or graph version) has that name."""

    status_code = 404
    code = "graph_not_found"
    default_detail = "Graph not found."

    def __init__(self, detail: str | None = None, *, name: str | None = None) -> None:
        self.name = name
        if detail is None and name is not None:
            detail = f"No graph named '{name}' is registered."
        super().__init__(detail)


class SessionNotFound(YamlgraphError):
    """No session with that id, or one the caller may not see (a 404, never a 403)."""

    status_code = 404
    code = "not_found"
    default_detail = "Session not found."


class InvalidInput(YamlgraphError):
    """The caller's input is wrong; `errors` maps field names to messages, like DRF's."""

    status_code = 400
    code = "invalid_input"
    default_detail = "Invalid input."

    def __init__(self, detail: str | None = None, *, errors: dict[str, Any] | None = None) -> None:
        self.errors: dict[str, Any] = dict(errors or {})
        if detail is None and self.errors:
            detail = "; ".join(
                f"{field}: {_first(message)}" for field, message in self.errors.items()
            )
        super().__init__(detail)


class SessionNotResumable(YamlgraphError):
    """The session is not waiting for an answer (completed, failed, cancelled...)."""

    status_code = 409
    code = "session_not_resumable"
    default_detail = "The session is not waiting for input."


class SessionBusy(YamlgraphError):
    """Another request is running the session right now; retry once it has finished."""

    status_code = 409
    code = "session_busy"
    default_detail = "The session is being run by another request."


class ThreadBusy(SessionBusy):
    """The thread has a run in progress and the request asked to reject (409)."""

    default_detail = (
        "Thread is already running a task. Wait for it to finish or choose a different "
        "multitask strategy."
    )


class StaleQuestion(YamlgraphError):
    """The session moved on (another answer won) since the caller read its question."""

    status_code = 409
    code = "stale_question"
    default_detail = "The session's pending question changed; read it again."


class NotPermitted(YamlgraphError):
    """The caller may see the session but not do this with it (services.rules)."""

    status_code = 403
    code = "permission_denied"
    default_detail = "You do not have permission to perform this action."


class NotAuthenticated(YamlgraphError):
    """The action needs a logged-in user and the caller is anonymous (services.rules)."""

    status_code = 401
    code = "not_authenticated"
    default_detail = "Authentication credentials were not provided."


class CheckpointerUnavailable(YamlgraphError):
    """The checkpointer's server cannot be reached; the same request works once it is back."""

    status_code = 503
    code = "checkpointer_unavailable"
    default_detail = "The checkpoint store is unavailable."


class NoWorker(YamlgraphError):
    """A run waits in the queue and no worker is alive to take it; it runs once one
    starts (`manage.py yamlgraph worker`). Nothing was changed."""

    status_code = 503
    code = "no_worker"
    default_detail = (
        "The run is queued and no worker is alive: it runs when a worker starts "
        "(`manage.py yamlgraph worker`)."
    )


def _first(message: Any) -> str:
    if isinstance(message, list | tuple) and message:
        return str(message[0])
    return str(message)


class NotAssignee(NotPermitted):
    """The question is assigned to others: the caller may see the session (its owner,
    staff) but may not answer it (`assign:` on the interrupt node). A NotPermitted of
    the rulebook's assignment rule, with its own code so a client can tell why."""

    status_code = 403
    code = "not_assignee"
    default_detail = "This question is assigned to someone else."
