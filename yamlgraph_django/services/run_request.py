"""The typed request of a run (what a run of the LangGraph protocol, or a cron's, asks
for) and the prepared run the engine executes (a claimed session, whichever door
claimed it). Their own module, like `yamlgraph_django.status`: a door or a service
builds one without entering the engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from yamlgraph_django.exceptions import CheckpointerUnavailable
from yamlgraph_django.models import Run, Session

#: Which door a run came through, in `Run.request["door"]` of a queued run and in
#: `PreparedRun.door`: the API/admin/commands, or the LangGraph protocol.
API_DOOR = "api"
PROTOCOL_DOOR = "langgraph"


@dataclass
class RunRequest:
    """What a run asks for (the protocol's documented keys the service acts on; the
    API's runs use `graph_name` only, their invocation being the engine's `Plan`)."""

    graph_name: str
    input: Any = None
    command: Mapping[str, Any] | None = None
    checkpoint_id: str | None = None
    metadata: Mapping[str, Any] | None = None
    config: Mapping[str, Any] | None = None
    stream_modes: list[str] = field(default_factory=lambda: ["values"])
    interrupt_before: Any = None
    interrupt_after: Any = None
    on_disconnect: str = "cancel"
    assistant_id: str | None = None
    #: What to do when a run holds the thread: reject, enqueue, interrupt or rollback.
    multitask_strategy: str = "enqueue"
    #: An http(s) URL POSTed the thread when the run ends (None keeps the one it has).
    webhook: str | None = None


@dataclass
class PreparedRun:
    """A claimed session with its Run row, ready for the one run loop (`stream_run`),
    whichever door claimed it; after the loop, how it ended (`written`, `snapshot`,
    `outage`)."""

    session: Session
    run: Run
    request: RunRequest
    lease: dt.datetime
    #: The status to go back to if a store outage ends the run (None: remove the start).
    previous: str | None
    graph_input: Any
    config: dict[str, Any]
    run_id: str = ""
    #: Which door's words the stream's first part uses (`API_DOOR` or `PROTOCOL_DOOR`).
    door: str = PROTOCOL_DOOR
    #: The graph's compiled app, if the caller opened it already.
    app: Any = None
    #: Runs on a worker: looks for a stop request at every step boundary.
    on_worker: bool = False
    #: A store outage fails the session (resumable) instead of putting it back: a
    #: worker's run of the API, which nobody would see answer 503.
    outage_fails: bool = False
    #: Answer again the questions of an earlier checkpoint: (checkpoint id, answers).
    rewind: tuple[str, dict[str, Any]] | None = None
    written: bool = False
    snapshot: Any = None
    outage: CheckpointerUnavailable | None = None
    #: What `wait_run` answered (a run its door asked to run to the end).
    result: dict[str, Any] | None = None
