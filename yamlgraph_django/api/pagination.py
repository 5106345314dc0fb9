"""Page-number pagination for session lists.

Plain `?page=N&page_size=M` pages with `count`, `next` and `previous`, the shape most
DRF clients already handle. A page costs one COUNT and one SELECT (graph and owner are
joined), whatever its size, so listing stays cheap as sessions pile up.
"""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class SessionPagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
