"""Telling a checkpoint store that cannot be reached from every other failure.

An outage is worth a "try again later" (HTTP 503) and must leave a session as it was,
because the same call works once the server is back; a bug in a graph is not. Each
store's client library has its own error types, and some wrap others (redisvl raises
RedisSearchError *from* the redis ConnectionError), so the whole cause chain is read.
Client modules are looked up in ``sys.modules`` only: an exception cannot be of a type
whose module was never imported, and the classifier must not import optional drivers.
"""

from __future__ import annotations

import errno
import socket
import sqlite3
import sys

from ._config import CheckpointerUnavailable

#: sqlite3.OperationalError messages that mean "the file is busy or gone", not a bad query.
_SQLITE_OUTAGE_WORDS = ("locked", "unable to open", "disk i/o", "database is busy")
#: OSError numbers of a network or disk that is not there (other OSErrors are bugs).
_OUTAGE_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
        errno.ENOTCONN,
        errno.EIO,
        errno.ENOSPC,
    }
)
_CHAIN_LIMIT = 20


def is_store_outage(exc: BaseException) -> bool:
    """Is `exc` (or what caused it) a checkpoint store that cannot be reached right now?

    True for: our CheckpointerUnavailable; redis ConnectionError, TimeoutError and
    BusyLoadingError; redisvl errors raised from one of those; psycopg OperationalError
    and InterfaceError; psycopg_pool PoolTimeout and TooManyRequests; sqlite3
    OperationalError for a locked, busy or unopenable file or a failing disk; socket
    timeouts and OSErrors of a refused, reset or unreachable connection. An exception
    group counts when every exception in it does. False for everything else, which
    includes errors in a graph's own code.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < _CHAIN_LIMIT:
        seen.add(id(current))
        if _is_outage_itself(current):
            return True
        if isinstance(current, BaseExceptionGroup):
            return bool(current.exceptions) and all(
                is_store_outage(inner) for inner in current.exceptions
            )
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return False


def _is_outage_itself(exc: BaseException) -> bool:
    """`exc` alone, without its causes."""
    if isinstance(exc, CheckpointerUnavailable):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return any(word in text for word in _SQLITE_OUTAGE_WORDS)
    if _is_instance(exc, "redis.exceptions", "ConnectionError", "TimeoutError", "BusyLoadingError"):
        return True
    if _is_instance(exc, "psycopg", "OperationalError", "InterfaceError"):
        return True
    if _is_instance(exc, "psycopg_pool", "PoolTimeout", "TooManyRequests"):
        return True
    if isinstance(exc, TimeoutError | socket.timeout | socket.gaierror | ConnectionError):
        return True
    return isinstance(exc, OSError) and exc.errno in _OUTAGE_ERRNOS


def _is_instance(exc: BaseException, module_name: str, *names: str) -> bool:
    module = sys.modules.get(module_name)
    if module is None:
        return False
    types = tuple(t for t in (getattr(module, name, None) for name in names) if isinstance(t, type))
    return bool(types) and isinstance(exc, types)
