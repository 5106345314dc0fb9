"""LangGraph's store endpoints: `PUT/GET/DELETE /store/items`, `POST /store/items/search`,
`POST /store/namespaces`, over `services.store` (the project's database by default).

A namespace is a list of labels (in GET's query string, the labels joined with "."),
values are JSON objects, `ttl` is in minutes. Every namespace touched is checked with
the store rule (by default a user's own namespaces, whose first label is their
username; staff everything): another user's namespace is a 403 naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.store.base import InvalidNamespaceError
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from yamlgraph_django.exceptions import InvalidInput, SessionNotFound
from yamlgraph_django.protocol.views import ProtocolView
from yamlgraph_django.services import store as store_service


def labels(value: Any, field: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    """A namespace from a request: a list of non-empty strings without dots."""
    if isinstance(value, str):
        value = value.split(".") if value else []
    if value is None and allow_empty:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(errors={field: "must be a list of strings"})
    if not value and not allow_empty:
        raise InvalidInput(errors={field: "must not be empty"})
    for label in value:
        if not label or "." in label:
            raise InvalidInput(
                errors={field: f"label '{label}' is empty or has a '.', which labels cannot"}
            )
    return tuple(value)


def whole_number(data: Mapping[str, Any], field: str, default: int, most: int = 1000) -> int:
    value = data.get(field, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
        raise InvalidInput(errors={field: "must be a non-negative integer"})
    return min(value, most) if field == "limit" else value


def item_json(item: Any) -> dict[str, Any]:
    body = {
        "namespace": list(item.namespace),
        "key": item.key,
        "value": item.value,
        "created_at": item.created_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
    }
    if getattr(item, "score", None) is not None:
        body["score"] = item.score
    return body


class StoreView(ProtocolView):
    def check(self, namespace: tuple[str, ...], action: str) -> None:
        if not store_service.may_access(self.request.user, namespace, action):
            raise PermissionDenied(
                f"You may not {action} the store namespace {list(namespace)}: yours start "
                f"with your username ('{self.request.user.get_username()}')."
            )

    def store(self) -> Any:
        return store_service.get_store()


class StoreItemsView(StoreView):
    def put(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, Mapping) else {}
        namespace = labels(data.get("namespace"), "namespace")
        key = data.get("key")
        if not isinstance(key, str) or not key:
            raise InvalidInput(errors={"key": "required: a non-empty string"})
        value = data.get("value")
        if not isinstance(value, Mapping):
            raise InvalidInput(errors={"value": "must be a JSON object"})
        ttl = data.get("ttl")
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0
        ):
            raise InvalidInput(errors={"ttl": "must be a positive number of minutes, or null"})
        index = data.get("index")
        if index is not None and index is not False and not isinstance(index, list):
            raise InvalidInput(errors={"index": "must be false, a list of fields, or null"})
        self.check(namespace, "write")
        try:
            self.store().put(namespace, key, dict(value), index=index, ttl=ttl)
        except InvalidNamespaceError as exc:
            raise InvalidInput(errors={"namespace": str(exc)}) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    def get(self, request: Request) -> Response:
        namespace = labels(request.query_params.get("namespace", ""), "namespace")
        key = request.query_params.get("key")
        if not key:
            raise InvalidInput(errors={"key": "required"})
        refresh = request.query_params.get("refresh_ttl")
        refresh_ttl = None if refresh is None else refresh.lower() in ("1", "true", "yes")
        self.check(namespace, "read")
        item = self.store().get(namespace, key, refresh_ttl=refresh_ttl)
        if item is None:
            raise SessionNotFound(f"No item '{key}' in namespace {list(namespace)}")
        return Response(item_json(item))

    def delete(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, Mapping) else {}
        namespace = labels(data.get("namespace"), "namespace")
        key = data.get("key")
        if not isinstance(key, str) or not key:
            raise InvalidInput(errors={"key": "required: a non-empty string"})
        self.check(namespace, "delete")
        self.store().delete(namespace, key)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StoreSearchView(StoreView):
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, Mapping) else {}
        prefix = labels(data.get("namespace_prefix"), "namespace_prefix", allow_empty=True)
        if not prefix:
            prefix = store_service.default_scope(request.user)
        self.check(prefix, "read")
        wanted = data.get("filter")
        if wanted is not None and not isinstance(wanted, Mapping):
            raise InvalidInput(errors={"filter": "must be an object"})
        query = data.get("query")
        if query is not None and not isinstance(query, str):
            raise InvalidInput(errors={"query": "must be a string"})
        refresh = data.get("refresh_ttl")
        try:
            items = self.store().search(
                prefix,
                query=query,
                filter=dict(wanted) if wanted else None,
                limit=whole_number(data, "limit", 10),
                offset=whole_number(data, "offset", 0),
                refresh_ttl=refresh if isinstance(refresh, bool) else None,
            )
        except ValueError as exc:
            raise InvalidInput(errors={"filter": str(exc)}) from None
        return Response({"items": [item_json(i) for i in items]})


class StoreNamespacesView(StoreView):
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, Mapping) else {}
        prefix = labels(data.get("prefix"), "prefix", allow_empty=True)
        suffix = labels(data.get("suffix"), "suffix", allow_empty=True)
        max_depth = data.get("max_depth")
        if max_depth is not None and (
            isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1
        ):
            raise InvalidInput(errors={"max_depth": "must be a positive integer"})
        limit, offset = whole_number(data, "limit", 100), whole_number(data, "offset", 0)
        found = self.store().list_namespaces(
            prefix=prefix or None, suffix=suffix or None, max_depth=None, limit=100000
        )
        user = request.user
        visible = [ns for ns in found if store_service.may_access(user, ns, "read")]
        if max_depth is not None:
            visible = sorted({ns[:max_depth] for ns in visible})
        page = visible[offset : offset + limit]
        return Response({"namespaces": [list(ns) for ns in page]})
