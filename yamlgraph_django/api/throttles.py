"""Per-user request rates of start and resume, on the API and on `/lg/` runs:
DRF throttles whose rates are YAMLGRAPH["THROTTLE_RATES"] ("start", "resume"; DRF's
"120/min" syntax; None turns one off). Over the rate is a 429 with `Retry-After`.

Counts live in Django's default cache: per process with the local-memory cache, shared
by every app server with Redis or Memcached (set CACHES for several servers).
"""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import UserRateThrottle

from yamlgraph_django.conf import app_settings


class _SettingRateThrottle(UserRateThrottle):
    """A user (or, anonymous, an IP address) per scope, at the rate the setting names."""

    #: The THROTTLE_RATES key.
    kind = ""

    def get_rate(self) -> str | None:
        return (app_settings.THROTTLE_RATES or {}).get(self.kind)


class StartThrottle(_SettingRateThrottle):
    scope = "yamlgraph_start"
    kind = "start"


class ResumeThrottle(_SettingRateThrottle):
    scope = "yamlgraph_resume"
    kind = "resume"


def throttles_for_run(data: Any) -> list[UserRateThrottle]:
    """A protocol run is a resume when its command resumes, else a start."""
    command = data.get("command") if hasattr(data, "get") else None
    if isinstance(command, dict) and "resume" in command:
        return [ResumeThrottle()]
    return [StartThrottle()]
