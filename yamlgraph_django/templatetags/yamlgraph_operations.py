"""Template tags of the admin's operator notices: `{% worker_banner %}` warns while runs
wait in the queue and no worker is alive to take them."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from yamlgraph_django.services.workers import START_WORKER, newest_heartbeat, stranded_runs

register = template.Library()


@register.simple_tag
def worker_banner() -> SafeString:
    """A warning line when runs are queued with no worker alive; nothing otherwise."""
    try:
        count, oldest = stranded_runs()
    except Exception:  # the admin page must render even if this cannot be told
        return mark_safe("")
    if not count or oldest is None:
        return mark_safe("")
    seen = newest_heartbeat()
    since = (
        f"no worker has been seen since {seen:%Y-%m-%d %H:%M:%S}"
        if seen is not None
        else "no worker has ever been seen"
    )
    return format_html(
        '<ul class="messagelist yamlgraph-no-worker"><li class="warning">'
        "{} run(s) queued since {} are waiting: {}. Background runs need a worker: {}."
        "</li></ul>",
        count,
        f"{oldest:%Y-%m-%d %H:%M:%S}",
        since,
        START_WORKER.replace("`", ""),
    )
