"""JSON request bodies with a nesting limit: a deeply nested body is a 400, not a RecursionError (500)."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32  # the deepest input the API accepts is 3 levels (visit → medications → entry)


def json_depth(value) -> int:
    """Nesting depth of parsed JSON (a scalar is 0, ``[]`` is 1), computed without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            if depth <= MAX_JSON_DEPTH:  # deeper than the limit: refused anyway, stop walking
                stack.extend((child, depth) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class RegistryJSONParser(JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than ``MAX_JSON_DEPTH`` with a 400 (ParseError)."""

    def parse(self, stream, media_type=None, parser_context=None):
        message = f"JSON parse error - the body is nested deeper than {MAX_JSON_DEPTH} levels."
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(message) from exc
        if json_depth(data) > MAX_JSON_DEPTH:
            raise ParseError(message)
        return data
