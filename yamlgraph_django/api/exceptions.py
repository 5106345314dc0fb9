"""One error shape for every answer the API gives: `{"detail": "...", "code": "..."}`.

Clients branch on `code` (stable, machine-readable) and show `detail` (a sentence).
Validation errors add `errors`, mapping each field name to its messages exactly as DRF
names them, so a form can put each message next to its field. Every error is handled
here, including bugs: an unexpected exception is logged with its traceback and answered
with a bare 500, so no stack trace, SQL or setting ever reaches a client, even with
DEBUG on.

The handler is set on the API's views (not through the project's EXCEPTION_HANDLER),
so installing the app changes nothing for the project's other DRF views.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from yamlgraph.errors import GraphValidationError
from yamlgraph_django.exceptions import CheckpointerUnavailable, InvalidInput, YamlgraphError

logger = logging.getLogger("yamlgraph_django.api")


class RequestTooLarge(exceptions.APIException):
    """The body is over YAMLGRAPH["MAX_REQUEST_BYTES"]; refused before it is parsed."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "request_too_large"


#: DRF's default codes that read badly in a client's `switch`; everything else keeps
#: the code DRF gives (`not_authenticated`, `method_not_allowed`, `parse_error`, ...).
_CODE_ALIASES = {"invalid": "invalid_input"}


def _code_of(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    return _CODE_ALIASES.get(code, code)


def _first_message(errors: Any) -> str | None:
    """The first human message in DRF's nested error structure (for `detail`)."""
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = _first_message(value)
            if message is not None:
                return message if field == "non_field_errors" else f"{field}: {message}"
        return None
    if isinstance(errors, list | tuple):
        for value in errors:
            message = _first_message(value)
            if message is not None:
                return message
        return None
    return str(errors)


def _validation_body(errors: Any) -> dict[str, Any]:
    if isinstance(errors, list):  # a serializer-level error list: no field to name
        errors = {"non_field_errors": errors}
    first = _first_message(errors)
    detail = f"Invalid input. {first}" if first else "Invalid input."
    return {"detail": detail, "code": "invalid_input", "errors": errors}


def _as_lists(errors: Any) -> Any:
    """The service's `{field: "message"}` in DRF's shape, `{field: ["message"]}`."""
    if isinstance(errors, dict):
        return {str(key): _as_lists(value) for key, value in errors.items()}
    if isinstance(errors, list | tuple):
        return [str(item) if not isinstance(item, dict) else _as_lists(item) for item in errors]
    return [str(errors)]


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Turn any exception raised by an API view into a JSON error response."""
    if isinstance(exc, InvalidInput):
        set_rollback()
        body = {"detail": exc.detail, "code": exc.code}
        if exc.errors:
            body["errors"] = _as_lists(exc.errors)
        return Response(body, status=exc.status_code)
    if isinstance(exc, CheckpointerUnavailable):
        # The service's detail names the store's host and port: useful in the logs and
        # the admin, not something to hand to every API client.
        logger.warning("checkpointer unavailable: %s", exc.detail)
        set_rollback()
        detail = f"{CheckpointerUnavailable.default_detail} Nothing was changed; try again later."
        return Response({"detail": detail, "code": exc.code}, status=exc.status_code)
    if isinstance(exc, YamlgraphError):
        set_rollback()
        return Response({"detail": exc.detail, "code": exc.code}, status=exc.status_code)

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()

    if isinstance(exc, exceptions.APIException):
        set_rollback()
        headers: dict[str, str] = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:  # whole seconds, never 0 (RFC 9110)
            headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
        if isinstance(exc, exceptions.ValidationError):
            body = _validation_body(exc.detail)
        elif isinstance(exc.detail, list | dict):  # an APIException raised with a structure
            body = _validation_body(exc.detail)
            body["code"] = exc.default_code
        else:
            body = {"detail": str(exc.detail), "code": _code_of(exc)}
        return Response(body, status=exc.status_code, headers=headers)

    if isinstance(exc, GraphValidationError):
        # A stored graph that no longer validates here (its tool or prompt file is gone):
        # an operator's problem, told in the log with file and line, not to the client.
        logger.error("graph no longer validates: %s", exc)
        set_rollback()
        return Response(
            {
                "detail": "This graph cannot be loaded on the server; an operator must fix it.",
                "code": "graph_invalid",
            },
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    view = context.get("view")
    request = context.get("request")
    logger.exception(
        "Unhandled error in %s %s",
        type(view).__name__ if view is not None else "API view",
        getattr(request, "path", ""),
    )
    set_rollback()
    return Response(
        {"detail": "Internal server error.", "code": "server_error"},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
