"""Schedules (LangGraph crons) in the admin: listed with their next and last run, and
editable (schedule, timezone, end time, enabled, input); saving checks the schedule
and the timezone and computes the next run again, as the API does."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from yamlgraph_django.exceptions import InvalidInput
from yamlgraph_django.services import crons as cron_service
from yamlgraph_django.store_models import Cron


class CronForm(forms.ModelForm):
    class Meta:
        model = Cron
        fields = [
            "graph_name",
            "schedule",
            "timezone",
            "end_time",
            "enabled",
            "thread",
            "owner",
            "payload",
            "metadata",
            "on_run_completed",
        ]

    def clean_schedule(self) -> str:
        try:
            return cron_service.check_schedule(self.cleaned_data["schedule"])
        except InvalidInput as exc:
            raise forms.ValidationError(exc.errors["schedule"]) from None

    def clean_timezone(self) -> str:
        try:
            return cron_service.check_timezone(self.cleaned_data["timezone"])
        except InvalidInput as exc:
            raise forms.ValidationError(exc.errors["timezone"]) from None


class CronAdmin(admin.ModelAdmin):
    form = CronForm
    list_display = [
        "graph_name",
        "schedule",
        "timezone",
        "thread",
        "owner",
        "enabled",
        "next_run_at",
        "last_run_at",
    ]
    list_filter = ["enabled", "graph_name"]
    search_fields = ["graph_name", "schedule", "owner__username"]
    readonly_fields = ["cron_id", "next_run_at", "last_run_at", "created_at", "updated_at"]
    raw_id_fields = ["thread", "owner"]

    def save_model(self, request: HttpRequest, obj: Cron, form: Any, change: bool) -> None:
        from django.utils import timezone

        obj.next_run_at = cron_service.upcoming(obj, timezone.now())
        super().save_model(request, obj, form, change)
