"""Page-number pagination for session lists.

Plain `?page=N&page_size=M` pages with `count`, `next` and `previous`, the shape most
DRF clients already handle. A page costs one COUNT and one SELECT (graph and owner are
joined), whatever its size, so listing stays cheap as sessions pile up.
"""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from yamlgraph_django.exceptions import InvalidInput


class SessionPagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> Any:
        """A `page_size` that is not a whole number from 1 to 100 is a 400, not ignored."""
        text = request.query_params.get(self.page_size_query_param)
        if text is not None and not (text.isdigit() and 1 <= int(text) <= self.max_page_size):
            raise InvalidInput(
                errors={"page_size": f"must be a whole number from 1 to {self.max_page_size}"}
            )
        return super().get_page_size(request)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        """Document the bounds the view enforces, so clients and test tools know them."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
            elif parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "default": 1}
        return parameters
