"""`on_error: skip|retry|fail|fallback`, `max_retries` and `fallback:` on nodes that call a model.

A failed call is retried, sent to the fallback provider, skipped or raised, as the node
says. Interrupts (LangGraph's GraphBubbleUp) always pass through untouched. A skip
raises :class:`NodeSkipped`, which the node turns into "no output, one entry in
`errors`"; exhausted retries and a failed fallback raise an error that names the node,
the attempts and the causes, so nothing fails silently.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from langgraph.errors import GraphBubbleUp

from yamlgraph.errors import GraphRuntimeError

logger = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_MAX_RETRIES = 3  # yamlgraph's default


class NodeSkipped(Exception):
    """A node with `on_error: skip` failed; it writes no output and records the error."""

    def __init__(self, node: str, cause: BaseException):
        super().__init__(f"node '{node}' skipped after an error: {cause}")
        self.node = node
        self.cause = cause

    def record(self) -> dict[str, str]:
        """The entry appended to the state's `errors` list."""
        return {
            "node": self.node,
            "type": type(self.cause).__name__,
            "message": str(self.cause),
        }


class ErrorPolicy:
    """What a node does when one of its model calls fails."""

    def __init__(self, node_name: str, options: dict[str, Any], fallback_model: Any = None):
        self.node = node_name
        self.on_error = options.get("on_error", "fail")
        self.max_retries = options.get("max_retries", DEFAULT_MAX_RETRIES)
        self.fallback_model = fallback_model
        self.fallback_provider = (options.get("fallback") or {}).get("provider")

    def models(self, model: Any) -> list[Any]:
        """The models to try, in order: once, 1 + max_retries times, or then the fallback."""
        if self.on_error == "retry":
            return [model] * (1 + self.max_retries)
        if self.on_error == "fallback":
            return [model, self.fallback_model]
        return [model]

    def run(self, attempt: Callable[[Any], T], model: Any) -> T:
        """`attempt(model)`, then what `on_error` says if it raises."""
        errors: list[Exception] = []
        for candidate in self.models(model):
            try:
                return attempt(candidate)
            except GraphBubbleUp:
                raise
            except Exception as exc:
                errors.append(self._failed(exc))
        raise self._failure(errors)

    async def arun(self, attempt: Callable[[Any], Awaitable[T]], model: Any) -> T:
        """The async twin of :meth:`run`."""
        errors: list[Exception] = []
        for candidate in self.models(model):
            try:
                return await attempt(candidate)
            except GraphBubbleUp:
                raise
            except Exception as exc:
                errors.append(self._failed(exc))
        raise self._failure(errors)

    def _failed(self, error: Exception) -> Exception:
        if self.on_error != "fail":
            logger.warning("node %s failed (on_error: %s): %s", self.node, self.on_error, error)
        return error

    def _failure(self, errors: list[Exception]) -> Exception:
        """The exception to raise once every model in :meth:`models` failed."""
        last = errors[-1]
        if self.on_error == "skip":
            return NodeSkipped(self.node, last)
        if self.on_error == "retry":
            return self._exhausted(last)
        if self.on_error == "fallback":
            return self._fallback_failed(errors[0], last)
        return last

    def _exhausted(self, error: Exception) -> GraphRuntimeError:
        return GraphRuntimeError(
            self.node,
            f"failed {self.max_retries + 1} times (on_error: retry, max_retries:"
            f" {self.max_retries}); last error: {type(error).__name__}: {error}",
        )

    def _fallback_failed(self, first: Exception, error: Exception) -> GraphRuntimeError:
        return GraphRuntimeError(
            self.node,
            f"failed ({type(first).__name__}: {first}) and so did the fallback provider"
            f" '{self.fallback_provider}' ({type(error).__name__}: {error})",
        )
