"""Helpers shared by the API tests (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

from rest_framework.authtoken.models import Token


def token_header(user: Any) -> str:
    """The `Authorization` header value a script of `user`'s would send."""
    token, _ = Token.objects.get_or_create(user=user)
    return f"Token {token.key}"


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The error shape every failure shares: {"detail": sentence, "code": code}."""
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert "Traceback" not in response.content.decode()
    return body
