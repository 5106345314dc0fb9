"""OpenTelemetry spans of runs and their nodes, when the `opentelemetry` packages are
installed (`opentelemetry-api`, plus an SDK and an exporter configured by the project,
as OpenTelemetry's own docs describe): one `yamlgraph.run` span per run, with a
`yamlgraph.node` child per node that ran, made from LangGraph's callbacks.

Attributes: `yamlgraph.graph`, `yamlgraph.session_id`, `yamlgraph.run_id`, and on node
spans `yamlgraph.node` and `langgraph.step`. A node that raised ends its span with an
error status; a node that paused for a person (an interrupt) does not.
Without opentelemetry, or before a tracer provider is set, nothing here runs
(`callbacks()` is empty).
"""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

#: Exceptions LangGraph uses for control flow, not failures.
CONTROL_FLOW = {"GraphInterrupt", "NodeInterrupt", "ParentCommand", "GraphBubbleUp"}


def available() -> bool:
    """opentelemetry is installed and a tracer provider is set (an SDK's, by the project
    or `opentelemetry-instrument`): otherwise spans would go nowhere, so none are made."""
    try:
        from opentelemetry import trace
    except ImportError:
        return False
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def callbacks(graph: str | None, session_id: str, run_id: Any) -> list[Any]:
    """LangChain callback handlers that make the spans of one run ([] without
    opentelemetry). `graph` None: the session's graph, read here (one query)."""
    if not available():
        return []
    if graph is None:
        from yamlgraph_django.models import Session

        rows = Session.objects.filter(pk=session_id).values_list("graph__name", flat=True)
        graph = str(rows.first() or "")
    return [_handler_class()(graph, session_id, run_id)]


def traced_config(
    config: dict[str, Any], graph: str, session_id: str, run_id: Any
) -> dict[str, Any]:
    """`config` with the tracing callbacks added (a config whose callbacks are not a
    list is left as it is)."""
    extra = callbacks(graph, session_id, run_id)
    existing = config.get("callbacks")
    if not extra or (existing is not None and not isinstance(existing, list)):
        return config
    return {**config, "callbacks": [*(existing or []), *extra]}


_classes: list[type] = []


def _handler_class() -> type:
    """Made on first use, so that neither langchain nor opentelemetry is imported by
    a process that never traces."""
    if _classes:
        return _classes[0]
    from langchain_core.callbacks import BaseCallbackHandler
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    class SpanCallbackHandler(BaseCallbackHandler):
        """Opens a span when the graph (the root chain) or one of its nodes starts,
        closes it when it ends."""

        def __init__(self, graph: str, session_id: str, run_id: Any) -> None:
            self.graph, self.session_id, self.run_id = graph, str(session_id), str(run_id)
            self.tracer = trace.get_tracer("yamlgraph_django")
            self.spans: dict[UUID, Any] = {}
            self.root: Any = None
            self.lock = threading.Lock()

        def _attributes(self) -> dict[str, str]:
            return {
                "yamlgraph.graph": self.graph,
                "yamlgraph.session_id": self.session_id,
                "yamlgraph.run_id": self.run_id,
            }

        def on_chain_start(
            self,
            serialized: Any,
            inputs: Any,
            *,
            run_id: UUID,
            parent_run_id: UUID | None = None,
            metadata: dict[str, Any] | None = None,
            **kwargs: Any,
        ) -> None:
            metadata = metadata or {}
            name = kwargs.get("name") or ""
            with self.lock:
                if parent_run_id is None and self.root is None:
                    self.root = self.tracer.start_span(
                        "yamlgraph.run", attributes=self._attributes()
                    )
                    self.spans[run_id] = self.root
                    return
                node = metadata.get("langgraph_node")
                if self.root is None or not node or name != node:
                    return  # a runnable inside a node, not the node itself
                attributes = {**self._attributes(), "yamlgraph.node": str(node)}
                if metadata.get("langgraph_step") is not None:
                    attributes["langgraph.step"] = int(metadata["langgraph_step"])
                self.spans[run_id] = self.tracer.start_span(
                    f"yamlgraph.node {node}",
                    context=trace.set_span_in_context(self.root),
                    attributes=attributes,
                )

        def _end(self, run_id: UUID, error: BaseException | None = None) -> None:
            with self.lock:
                span = self.spans.pop(run_id, None)
            if span is None:
                return
            if error is not None and type(error).__name__ not in CONTROL_FLOW:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            span.end()

        def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
            self._end(run_id)

        def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
            self._end(run_id, error)

    _classes.append(SpanCallbackHandler)
    return SpanCallbackHandler
