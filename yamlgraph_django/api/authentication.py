"""DRF token authentication with a small per-process cache of the tokens it found.

Every API and `/lg/` request carries its token; reading the token and its user is one
query per request that answers the same thing for minutes. The cache keeps what was
found for `TOKEN_CACHE_SECONDS` (bounded to `TOKEN_CACHE_SIZE` entries, least recently
used out first). Saving or deleting a token or a user drops its entries in this process
at once; another process sees a revoked token or a deactivated user within the TTL.
Each request gets its own copy of the user, so per-request caches Django keeps on a
user object (permissions) never outlive the request.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from cachetools import TTLCache
from django.conf import settings
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save
from rest_framework.authentication import TokenAuthentication

from yamlgraph_django.conf import SETTING_NAME, app_settings

_lock = threading.Lock()
_tokens: TTLCache | None = None


def _cache() -> TTLCache | None:
    """The cache as the settings size it; None when TOKEN_CACHE_SECONDS is 0."""
    global _tokens
    seconds = float(app_settings.TOKEN_CACHE_SECONDS or 0)
    if seconds <= 0:
        return None
    if _tokens is None:
        _tokens = TTLCache(maxsize=int(app_settings.TOKEN_CACHE_SIZE), ttl=seconds)
    return _tokens


def forget_tokens() -> None:
    """Drop every cached token (settings changed; tests start from nothing)."""
    global _tokens
    with _lock:
        _tokens = None


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's `TokenAuthentication`, reading each token at most once per TTL per process."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        with _lock:
            cache = _cache()
            found = cache.get(key) if cache is not None else None
        if found is None:
            found = super().authenticate_credentials(key)  # raises for a bad key
            if cache is not None:
                with _lock:
                    cache[key] = found
        user, token = found
        return copy.copy(user), token


def _drop_token(sender: Any, instance: Any, **kwargs: Any) -> None:
    with _lock:
        if _tokens is not None:
            _tokens.pop(getattr(instance, "key", None), None)


def _drop_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    with _lock:
        if _tokens is not None:
            for key in [k for k, (user, _t) in _tokens.items() if user.pk == instance.pk]:
                _tokens.pop(key, None)


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTING_NAME, "AUTH_USER_MODEL"):
        forget_tokens()


def connect_signals() -> None:
    """Drop cached entries when a token or a user is saved or deleted (AppConfig.ready)."""
    from django.apps import apps

    if apps.is_installed("rest_framework.authtoken"):
        from rest_framework.authtoken.models import Token

        post_save.connect(_drop_token, sender=Token, dispatch_uid="yg-token-save")
        post_delete.connect(_drop_token, sender=Token, dispatch_uid="yg-token-delete")
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    post_save.connect(_drop_user, sender=user_model, dispatch_uid="yg-token-user-save")
    post_delete.connect(_drop_user, sender=user_model, dispatch_uid="yg-token-user-delete")
    setting_changed.connect(_settings_changed, dispatch_uid="yg-token-settings")
