"""Helpers shared by the service modules: loading sessions, validating what callers give,
turning LangGraph snapshots into JSON-safe data, and recognising a storage outage."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from yamlgraph.graph_loader import DEFAULTS_NODE
from yamlgraph_django import runtime
from yamlgraph_django.conf import app_settings
from yamlgraph_django.exceptions import (
    CheckpointerUnavailable,
    InvalidInput,
    SessionNotFound,
)
from yamlgraph_django.models import Session, SessionStatus
from yamlgraph_django.services.answers import with_response_schemas

if TYPE_CHECKING:
    from yamlgraph.config import GraphConfig
    from yamlgraph_django.models import GraphDefinition


class _Missing:
    """The type of MISSING: "no value given", distinct from None (a valid answer)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()

SessionRef = Session | str | Any  # a Session, or its id (UUID or string)

#: The engine's interrupt nodes are two LangGraph nodes; the first carries this suffix.
_PROMPT_SUFFIX = "__prompt"


def now() -> dt.datetime:
    return timezone.now()


def lease_until(start: dt.datetime | None = None) -> dt.datetime:
    """When a run started now is presumed crashed if it has not finished."""
    return (start or now()) + dt.timedelta(seconds=int(app_settings.LEASE_SECONDS))


def expiry(start: dt.datetime | None = None) -> dt.datetime | None:
    """`expires_at` for a session touched now: last activity + SESSION_TTL_MINUTES."""
    ttl = app_settings.SESSION_TTL_MINUTES
    if not ttl:
        return None
    return (start or now()) + dt.timedelta(minutes=float(ttl))


def load_session(session: SessionRef) -> Session:
    """The current row for `session` (an instance, refreshed in place, or an id).

    Refreshing the caller's instance means `resume_session(s, ...)` leaves `s` showing
    the new status, as a Django developer would expect.
    """
    if isinstance(session, Session):
        try:
            session.refresh_from_db()
        except Session.DoesNotExist:
            raise SessionNotFound(f"Session {session.pk} no longer exists.") from None
        return session
    try:
        return Session.objects.select_related("graph").get(pk=session)
    except (Session.DoesNotExist, ValidationError, ValueError, TypeError):
        raise SessionNotFound(f"No session with id '{session}'.") from None


def user_or_none(user: Any) -> Any:
    """A user to store on a row: AnonymousUser (request.user when logged out) is None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


# --------------------------------------------------------------------------- JSON


class _LenientEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder that writes anything else as its str(): interrupt payloads and
    state values are shown to people, so an odd object must not break the page."""

    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def json_safe(value: Any) -> Any:
    """`value` as plain JSON data (what JSONField stores and the API returns)."""
    return json.loads(json.dumps(value, cls=_LenientEncoder))


def require_json(value: Any, field: str) -> None:
    """InvalidInput unless `value` is strict JSON: stored as given, so it must round-trip."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(errors={field: f"not JSON-serializable: {exc}"}) from None


def public_values(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """State values without engine-private keys (leading underscore), JSON-safe."""
    return json_safe({k: v for k, v in (values or {}).items() if not str(k).startswith("_")})


def interrupts_of(snapshot: Any, config: GraphConfig | None = None) -> list[dict[str, Any]]:
    """Pending interrupts of a snapshot as [{id, value}], plus each one's
    `response_schema` (what answer it takes) when the graph's config is given."""
    items = [{"id": i.id, "value": json_safe(i.value)} for i in (snapshot.interrupts or ())]
    return items if config is None else with_response_schemas(config, snapshot, items)


def has_checkpoint(snapshot: Any) -> bool:
    """False for the empty snapshot LangGraph returns for a thread with no checkpoint."""
    return bool((snapshot.config or {}).get("configurable", {}).get("checkpoint_id"))


def is_finished(snapshot: Any) -> bool:
    """Has the graph reached its end? Judged by `tasks`, not `next`.

    LangGraph leaves a task out of `next` once its writes are saved, so while a run is
    between saving a step's writes and saving the next checkpoint (a moment a concurrent
    reader, such as crash recovery, can hit) `next` is empty although work remains.
    A finished graph has no tasks at all.
    """
    return has_checkpoint(snapshot) and not snapshot.tasks and not snapshot.next


def node_name(config: GraphConfig, raw: str) -> str:
    """The YAML name of a LangGraph node: `ask__prompt` is `ask`; `__start__` and the
    engine's defaults step are START."""
    if raw in ("__start__", DEFAULTS_NODE):
        return "START"
    if raw.endswith(_PROMPT_SUFFIX):
        base = raw[: -len(_PROMPT_SUFFIX)]
        node = config.nodes.get(base)
        if node is not None and node.type == "interrupt":
            return base
    return raw


def node_names(config: GraphConfig, raw: Iterable[str]) -> list[str]:
    """YAML names of `raw`, in order, without duplicates."""
    return list(dict.fromkeys(node_name(config, name) for name in raw))


def thread_config(session: Session, checkpoint_id: str | None = None) -> dict[str, Any]:
    configurable: dict[str, Any] = {"thread_id": session.thread_id}
    if checkpoint_id:
        configurable["checkpoint_ns"] = ""
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


# --------------------------------------------------------------------------- storage


def is_outage(exc: BaseException) -> bool:
    """Is `exc` the checkpoint store being unreachable (as opposed to a graph bug)?

    Those leave the session as it was and answer 503, because the same request works
    once the server is back. Checked by type: Redis and Postgres connection errors, a
    locked or unopenable SQLite file, and the storage factory's own error.
    """
    from yamlgraph.storage import CheckpointerUnavailable as StoreUnavailable

    if isinstance(exc, StoreUnavailable):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return any(word in text for word in ("locked", "unable to open", "disk i/o"))
    try:
        import redis.exceptions as redis_errors

        if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError):
            return True
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    try:
        import psycopg
        import psycopg_pool

        if isinstance(exc, psycopg.OperationalError | psycopg_pool.PoolTimeout):
            return True
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    return False


def unavailable(exc: BaseException) -> CheckpointerUnavailable:
    """The app's 503 error for a storage outage, keeping the storage message."""
    return CheckpointerUnavailable(f"The checkpoint store is unavailable: {exc}")


def graph_config(definition: GraphDefinition) -> GraphConfig:
    """The parsed config of a stored version.

    A version that no longer loads (its tool file was deleted) raises the engine's
    GraphValidationError unchanged: an operator's problem, which the API answers as a
    500 without file paths and the command shows as one line.
    """
    return runtime.graph_config(definition)


def get_app(definition: GraphDefinition) -> Any:
    """The compiled app; a storage outage becomes CheckpointerUnavailable (503)."""
    try:
        return runtime.get_app(definition)
    except Exception as exc:
        if is_outage(exc):
            raise unavailable(exc) from exc
        raise


def get_saver(definition: GraphDefinition) -> Any:
    """The saver of a graph version; a storage outage becomes CheckpointerUnavailable."""
    try:
        return runtime.saver_for(definition)
    except Exception as exc:
        if is_outage(exc):
            raise unavailable(exc) from exc
        raise


def read_state(app: Any, session: Session, checkpoint_id: str | None = None) -> Any:
    """app.get_state for the session's thread; an outage becomes CheckpointerUnavailable."""
    try:
        return app.get_state(thread_config(session, checkpoint_id))
    except Exception as exc:
        if is_outage(exc):
            raise unavailable(exc) from exc
        raise


def describe_error(exc: BaseException) -> str:
    """The text stored in `Session.error`: what a person needs to fix the graph or input."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


TERMINAL = (SessionStatus.COMPLETED, SessionStatus.CANCELLED)
