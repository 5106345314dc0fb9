"""Request bodies of the protocol, checked with DRF serializers.

Every documented key is declared, so it is accepted (acted on or ignored, never a 400);
unknown keys are ignored, as langgraph-api does with the ones newer clients add.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from yamlgraph_django.exceptions import InvalidInput
from yamlgraph_django.services.webhooks import validate_webhook

SORT_ORDERS = ("asc", "desc")


class PageSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=10)
    offset = serializers.IntegerField(min_value=0, default=0)
    sort_by = serializers.CharField(required=False, allow_null=True)
    sort_order = serializers.ChoiceField(SORT_ORDERS, required=False, allow_null=True)
    select = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)


class AssistantSearchSerializer(PageSerializer):
    graph_id = serializers.CharField(required=False, allow_null=True)
    name = serializers.CharField(required=False, allow_null=True)
    metadata = serializers.DictField(required=False, allow_null=True)


class ThreadCreateSerializer(serializers.Serializer):
    thread_id = serializers.CharField(required=False, allow_null=True, max_length=255)
    metadata = serializers.DictField(required=False, allow_null=True)
    if_exists = serializers.ChoiceField(("raise", "do_nothing"), default="raise")
    ttl = serializers.JSONField(required=False, allow_null=True)
    supersteps = serializers.JSONField(required=False, allow_null=True)
    graph_id = serializers.CharField(required=False, allow_null=True)


class ThreadPatchSerializer(serializers.Serializer):
    metadata = serializers.DictField(required=False, allow_null=True)
    ttl = serializers.JSONField(required=False, allow_null=True)


class ThreadSearchSerializer(PageSerializer):
    metadata = serializers.DictField(required=False, allow_null=True)
    values = serializers.DictField(required=False, allow_null=True)
    ids = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    status = serializers.ChoiceField(
        ("idle", "busy", "interrupted", "error"), required=False, allow_null=True
    )
    extract = serializers.JSONField(required=False, allow_null=True)


class HistorySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=10)
    before = serializers.JSONField(required=False, allow_null=True)
    metadata = serializers.DictField(required=False, allow_null=True)
    checkpoint = serializers.DictField(required=False, allow_null=True)

    def validate_before(self, value: Any) -> str | None:
        """`before` is a checkpoint id or a checkpoint/config object holding one."""
        if value is None or isinstance(value, str):
            return value or None
        if isinstance(value, dict):
            inner = value.get("configurable", value)
            if isinstance(inner, dict) and isinstance(inner.get("checkpoint_id"), str):
                return inner["checkpoint_id"]
        raise serializers.ValidationError("must be a checkpoint id or a checkpoint object")


class StateUpdateSerializer(serializers.Serializer):
    values = serializers.JSONField(required=False, allow_null=True)
    as_node = serializers.CharField(required=False, allow_null=True)
    checkpoint = serializers.DictField(required=False, allow_null=True)
    checkpoint_id = serializers.CharField(required=False, allow_null=True)


class StateAtCheckpointSerializer(serializers.Serializer):
    checkpoint = serializers.DictField()
    subgraphs = serializers.BooleanField(default=False)


class CommandSerializer(serializers.Serializer):
    resume = serializers.JSONField(required=False, allow_null=True)
    update = serializers.JSONField(required=False, allow_null=True)
    goto = serializers.JSONField(required=False, allow_null=True)


class RunCreateSerializer(serializers.Serializer):
    """The run body shared by `/runs`, `/runs/wait` and `/runs/stream`."""

    assistant_id = serializers.CharField()
    input = serializers.JSONField(required=False, allow_null=True)
    command = serializers.DictField(required=False, allow_null=True)
    config = serializers.DictField(required=False, allow_null=True)
    context = serializers.JSONField(required=False, allow_null=True)
    metadata = serializers.DictField(required=False, allow_null=True)
    stream_mode = serializers.JSONField(required=False, allow_null=True)
    stream_subgraphs = serializers.BooleanField(required=False, allow_null=True)
    stream_resumable = serializers.BooleanField(required=False, allow_null=True)
    interrupt_before = serializers.JSONField(required=False, allow_null=True)
    interrupt_after = serializers.JSONField(required=False, allow_null=True)
    checkpoint = serializers.DictField(required=False, allow_null=True)
    checkpoint_id = serializers.CharField(required=False, allow_null=True)
    checkpoint_during = serializers.BooleanField(required=False, allow_null=True)
    multitask_strategy = serializers.ChoiceField(
        ("reject", "interrupt", "rollback", "enqueue"), required=False, allow_null=True
    )
    if_not_exists = serializers.ChoiceField(("create", "reject"), required=False, allow_null=True)
    webhook = serializers.CharField(required=False, allow_null=True)
    on_disconnect = serializers.ChoiceField(("cancel", "continue"), required=False, allow_null=True)
    on_completion = serializers.ChoiceField(("delete", "keep"), required=False, allow_null=True)
    after_seconds = serializers.FloatField(required=False, allow_null=True, min_value=0)
    durability = serializers.CharField(required=False, allow_null=True)
    feedback_keys = serializers.JSONField(required=False, allow_null=True)
    langsmith_tracer = serializers.JSONField(required=False, allow_null=True)
    strict_resume = serializers.BooleanField(required=False, allow_null=True)

    def validate_webhook(self, value: str | None) -> str | None:
        """The thread's webhook from now on (POSTed on interruption, completion, failure)."""
        if not value:
            return None
        try:
            return validate_webhook(value)
        except InvalidInput as exc:
            raise serializers.ValidationError(exc.errors["webhook"]) from None

    def validate_stream_mode(self, value: Any) -> list[str]:
        if value is None:
            return ["values"]
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value or ["values"]
        raise serializers.ValidationError("must be a stream mode or a list of them")

    def validate_command(self, value: Any) -> Any:
        if value is None:
            return None
        body = CommandSerializer(data=value)
        body.is_valid(raise_exception=True)
        return {key: value[key] for key in ("resume", "update", "goto") if key in value}

    def validate_interrupt_before(self, value: Any) -> Any:
        return _breakpoints(value)

    def validate_interrupt_after(self, value: Any) -> Any:
        return _breakpoints(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        checkpoint = attrs.get("checkpoint") or {}
        if not attrs.get("checkpoint_id") and isinstance(checkpoint.get("checkpoint_id"), str):
            attrs["checkpoint_id"] = checkpoint["checkpoint_id"]
        return attrs


def _breakpoints(value: Any) -> Any:
    if value in (None, "*"):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value or None
    raise serializers.ValidationError('must be "*" or a list of node names')
