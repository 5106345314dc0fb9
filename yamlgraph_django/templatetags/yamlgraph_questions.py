"""Template tags of the question pages: `{% questions_waiting %}` is how many open
questions wait for the request's user (one COUNT query)."""

from __future__ import annotations

from typing import Any

from django import template

from yamlgraph_django.models import Question

register = template.Library()


@register.simple_tag(takes_context=True)
def questions_waiting(context: dict[str, Any]) -> int:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return Question.objects.for_user(user).count()
