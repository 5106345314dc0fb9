"""Per-process caches of compiled graphs and savers (owned by the session service)."""


def clear_caches() -> None:
    """Drop compiled graphs and close cached savers; called when YAMLGRAPH changes."""
