"""`stream_mode` in a query string, however a client spells it: repeated keys (SDK 1.x,
`?stream_mode=values&stream_mode=updates`), a comma list (`?stream_mode=values,updates`)
or one JSON array (SDK 2.0's `runs.joinStream`: `?stream_mode=["values","updates"]`)."""

from __future__ import annotations

import json
from typing import Any

from yamlgraph_django.exceptions import InvalidInput


def stream_modes_of(query: Any, key: str = "stream_mode") -> list[str]:
    """The modes asked for, in order, without duplicates or empty names ([] for none)."""
    modes: list[str] = []
    for raw in query.getlist(key):
        raw = raw.strip()
        if not raw:
            continue  # the SDK sends "" for "no mode"
        if raw.startswith("["):
            try:
                parsed = json.loads(raw)
            except ValueError:
                raise InvalidInput(errors={key: f"not a JSON array: {raw}"}) from None
            if not isinstance(parsed, list) or not all(isinstance(m, str) for m in parsed):
                raise InvalidInput(errors={key: "a JSON array of mode names is expected"})
            modes.extend(parsed)
        else:
            modes.extend(part.strip().strip('"') for part in raw.split(","))
    return list(dict.fromkeys(m for m in modes if m))
