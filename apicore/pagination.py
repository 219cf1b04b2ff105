"""Cursor pagination for sync clients: stable under inserts, page size up to 1,000.

A cursor is opaque but client-held, so a forged one (``?cursor=cD1hYmM=`` is ``p=abc``) must be
refused with a 400 naming ``cursor`` — never reach the database as a non-integer id (a 500).
"""

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

MAX_ID = 2**63 - 1  # PostgreSQL bigint
INVALID_CURSOR = "Invalid cursor: use the `next` or `previous` link of a previous page unchanged."


class RegistryCursorPagination(CursorPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "id"
    invalid_cursor_message = INVALID_CURSOR

    def decode_cursor(self, request):
        """DRF's decoding, with every malformed cursor (undecodable, or a position that is not an id) a 400."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]}) from exc
        if cursor is not None and cursor.position is not None:
            position = cursor.position
            if not (position.isascii() and position.isdigit() and int(position) <= MAX_ID):
                raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]})
        return cursor
