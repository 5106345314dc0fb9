"""LangGraph's cron endpoints over `services.crons`: `POST /runs/crons` (a new thread
each run), `POST /threads/{id}/runs/crons` (runs on that thread), `POST /runs/crons/search`,
`POST /runs/crons/count`, `PATCH` and `DELETE /runs/crons/{cron_id}`. A cron is its
owner's (staff see all); the worker fires it (`manage.py yamlgraph worker`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from yamlgraph_django.exceptions import InvalidInput, SessionNotFound
from yamlgraph_django.protocol.views import ProtocolView, pagination, resolve_assistant
from yamlgraph_django.services import crons as cron_service
from yamlgraph_django.services import threads
from yamlgraph_django.store_models import Cron

SORTS = {
    "cron_id",
    "assistant_id",
    "thread_id",
    "next_run_date",
    "end_time",
    "created_at",
    "updated_at",
}
COLUMNS = {
    "assistant_id": "graph_name",
    "thread_id": "thread__thread_id",
    "next_run_date": "next_run_at",
}


def cron_json(cron: Cron) -> dict[str, Any]:
    assistant = threads.assistant_id_of(cron.graph_name)
    return {
        "cron_id": str(cron.cron_id),
        "assistant_id": assistant,
        "graph_id": cron.graph_name,
        "thread_id": cron.thread.thread_id if cron.thread_id else None,
        "on_run_completed": None if cron.thread_id else cron.on_run_completed,
        "end_time": cron.end_time.isoformat() if cron.end_time else None,
        "schedule": cron.schedule,
        "timezone": cron.timezone,
        "created_at": cron.created_at.isoformat(),
        "updated_at": cron.updated_at.isoformat(),
        "payload": {**cron.payload, "assistant_id": assistant},
        "user_id": cron.owner.get_username() if cron.owner_id else None,
        "next_run_date": cron.next_run_at.isoformat() if cron.next_run_at else None,
        "metadata": cron.metadata,
        "enabled": cron.enabled,
    }


def end_time_of(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    parsed = parse_datetime(str(value)) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidInput(errors={"end_time": f"not an ISO 8601 date-time: {value!r}"})
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


class CronView(ProtocolView):
    def data(self) -> dict[str, Any]:
        if not isinstance(self.request.data, Mapping):
            raise InvalidInput(errors={"body": "must be a JSON object"})
        return dict(self.request.data)

    def crons(self) -> QuerySet[Cron]:
        rows = Cron.objects.select_related("thread", "owner")
        user = self.request.user
        if getattr(user, "is_staff", False):
            return rows
        return rows.filter(owner=user) if user.is_authenticated else rows.none()

    def cron(self, cron_id: str) -> Cron:
        try:
            wanted = uuid.UUID(str(cron_id))
        except ValueError:
            raise SessionNotFound(f"Cron {cron_id} not found") from None
        cron = self.crons().filter(cron_id=wanted).first()
        if cron is None:
            raise SessionNotFound(f"Cron {cron_id} not found")
        return cron

    def create(self, thread_id: str | None) -> Response:
        data = self.data()
        if not data.get("assistant_id"):
            raise InvalidInput(errors={"assistant_id": "required (a graph name or id)"})
        definition = resolve_assistant(str(data["assistant_id"]))
        session = self.thread(thread_id) if thread_id is not None else None
        if session is not None and session.graph_id and session.graph.name != definition.name:
            raise InvalidInput(
                errors={"assistant_id": f"this thread runs graph '{session.graph.name}'"}
            )
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise InvalidInput(errors={"enabled": "must be true or false"})
        cron = cron_service.create_cron(
            owner=self.actor(),
            graph_name=definition.name,
            schedule=data.get("schedule"),
            timezone_name=data.get("timezone"),
            payload={k: data[k] for k in cron_service.PAYLOAD_KEYS if data.get(k) is not None},
            metadata=data.get("metadata"),
            thread=session,
            end_time=end_time_of(data.get("end_time")),
            enabled=enabled,
            on_run_completed=data.get("on_run_completed") or "delete",
        )
        return Response(cron_json(cron))


class CronCreateView(CronView):
    def post(self, request: Request) -> Response:
        return self.create(None)


class ThreadCronCreateView(CronView):
    def post(self, request: Request, thread_id: str) -> Response:
        return self.create(thread_id)


class CronSearchView(CronView):
    def matching(self, data: dict[str, Any]) -> QuerySet[Cron]:
        rows = self.crons()
        if data.get("assistant_id"):
            rows = rows.filter(graph_name=resolve_assistant(str(data["assistant_id"])).name)
        if data.get("thread_id"):
            rows = rows.filter(thread__thread_id=str(data["thread_id"]))
        if isinstance(data.get("enabled"), bool):
            rows = rows.filter(enabled=data["enabled"])
        metadata = data.get("metadata")
        if metadata:
            if not isinstance(metadata, Mapping):
                raise InvalidInput(errors={"metadata": "must be an object"})
            matching = [
                c.pk for c in rows if all(c.metadata.get(k) == v for k, v in metadata.items())
            ]
            rows = rows.filter(pk__in=matching)
        return rows

    def post(self, request: Request) -> Response:
        data = self.data()
        rows = self.matching(data)
        sort_by = data.get("sort_by") or "created_at"
        if sort_by not in SORTS:
            raise InvalidInput(errors={"sort_by": f"one of {', '.join(sorted(SORTS))}"})
        column = COLUMNS.get(sort_by, sort_by)
        descending = (data.get("sort_order") or "desc") != "asc"
        rows = rows.order_by(f"-{column}" if descending else column, "pk")
        limit, offset = data.get("limit", 10), data.get("offset", 0)
        if not isinstance(limit, int) or not isinstance(offset, int) or limit < 1 or offset < 0:
            raise InvalidInput(errors={"limit": "limit >= 1 and offset >= 0, integers"})
        total = rows.count()
        page = [cron_json(c) for c in rows[offset : offset + min(limit, 1000)]]
        if data.get("select"):
            page = [{k: c[k] for k in data["select"] if k in c} for c in page]
        return Response(page, headers=pagination(total, offset, len(page)))


class CronCountView(CronSearchView):
    def post(self, request: Request) -> Response:
        return Response(self.matching(self.data()).count())


class CronDetailView(CronView):
    def patch(self, request: Request, cron_id: str) -> Response:
        cron = self.cron(cron_id)
        data = self.data()
        changes = {k: v for k, v in data.items() if v is not None or k == "end_time"}
        if "end_time" in changes:
            changes["end_time"] = end_time_of(changes["end_time"])
        if "enabled" in changes and not isinstance(changes["enabled"], bool):
            raise InvalidInput(errors={"enabled": "must be true or false"})
        return Response(cron_json(cron_service.update_cron(cron, changes)))

    def get(self, request: Request, cron_id: str) -> Response:
        return Response(cron_json(self.cron(cron_id)))

    def delete(self, request: Request, cron_id: str) -> Response:
        self.cron(cron_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
