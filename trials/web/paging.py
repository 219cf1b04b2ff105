"""Count-free pages: "is there a next page?" known by fetching one row more than a page, never by counting.

An exact ``COUNT(*)`` of a large or filtered set (every audit history table; patients matching an EXISTS filter)
costs as much as reading the whole set, while a page needs only its own rows. ``NextPage`` reads
``page_size + 1`` rows at the page's offset and says whether a next page exists; templates use it like
Django's ``Page`` (``number``, ``has_next``, ``has_previous``, ``next_page_number``, ``previous_page_number``,
``has_other_pages``), with ``count`` and ``num_pages`` set only when the caller knows them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# The largest page number honoured: its offset (× a page of at most 1,000 rows) stays far inside a 64-bit SQL
# integer, so ``?page=100000000000000000000`` shows an empty page past the end instead of an SQL overflow (a 500).
MAX_PAGE = 10**9


def page_number(value: Any) -> int:
    """The 1-based page number asked for in a query string value: 1 when missing or not a positive integer,
    at most ``MAX_PAGE``."""
    try:
        return min(max(1, int(value or 1)), MAX_PAGE)
    except (TypeError, ValueError):
        return 1


class NextPage:
    """One page of ``page_size`` rows from ``fetch(start, stop)`` (rows ``start`` … ``stop - 1`` of the ordered set).

    ``count``: the total when the caller has it cheaply (then ``num_pages`` is known and a page past the end
    shows the last page); otherwise ``None`` and the page only knows whether a next one exists.
    """

    def __init__(self, fetch: Callable[[int, int], Sequence], number: Any, page_size: int, *, count: int | None = None) -> None:
        self.number = page_number(number)
        self.count = count
        self.num_pages = max(1, -(-count // page_size)) if count is not None else None
        if self.num_pages is not None:
            self.number = min(self.number, self.num_pages)
        start = (self.number - 1) * page_size
        rows = list(fetch(start, start + page_size + 1))
        self.has_next = len(rows) > page_size
        self.object_list = rows[:page_size]
        self.has_previous = self.number > 1
        self.previous_page_number, self.next_page_number = self.number - 1, self.number + 1

    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next
