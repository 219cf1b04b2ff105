"""Cursor pagination for sync clients: stable under inserts, page size up to 1,000."""

from rest_framework.pagination import CursorPagination


class RegistryCursorPagination(CursorPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "id"
