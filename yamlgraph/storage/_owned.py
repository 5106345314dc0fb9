"""What each saver made by a factory has opened, so close_checkpointer() can release it.

Kept outside the saver (upstream classes have no close()) in a
WeakKeyDictionary: a saver dropped without closing does not stay alive because
of this table. The closers must therefore never reference the saver itself,
only the connections, pools and clients it uses.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Close = Callable[[], None]
AClose = Callable[[], Awaitable[None]]


@dataclass
class Owned:
    """Release functions for one saver; either may be None."""

    close: Close | None = None
    aclose: AClose | None = None


_OWNED: weakref.WeakKeyDictionary[Any, Owned] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def register_closer(saver: Any, close: Close | None = None, aclose: AClose | None = None) -> Any:
    """Record how to release what a factory opened for `saver`; returns `saver`.

    For factories registered with register_checkpointer() that open
    connections: close_checkpointer() calls `close`, aclose_checkpointer()
    awaits `aclose` (or runs `close` in a worker thread). Neither callable may
    hold a reference to `saver`, or it would never be garbage-collected.
    """
    with _LOCK:
        _OWNED[saver] = Owned(close=close, aclose=aclose)
    return saver


def pop_owned(saver: Any) -> Owned | None:
    """Forget and return the release functions of `saver` (None if none or already closed)."""
    try:
        with _LOCK:
            return _OWNED.pop(saver, None)
    except TypeError:  # not weak-referenceable: never registered
        return None
