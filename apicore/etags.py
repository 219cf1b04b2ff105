"""ETags: a record's ``version`` for details, a content hash for lists; ``If-None-Match`` → 304, ``If-Match`` → version."""

from __future__ import annotations

import hashlib
import json

from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apicore.errors import PreconditionRequired


def version_etag(version: int) -> str:
    return f'"{version}"'


def content_etag(data) -> str:
    payload = json.dumps(data, sort_keys=True, default=str, separators=(",", ":")).encode()
    return '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def expected_version(request) -> int | None:
    """The version named by ``If-Match`` (``"3"``, ``W/"3"`` or ``3``); None when absent."""
    header = request.headers.get("If-Match")
    if not header or header.strip() == "*":
        return None
    tags = _tags(header)
    if len(tags) != 1 or not tags[0].strip('"').isdigit():
        raise ValidationError({"If-Match": ['Must be one record version as returned in ETag, e.g. "3".']})
    return int(tags[0].strip('"'))


def required_version(request) -> int:
    """The version named by ``If-Match``, which updates must send: 428 when absent or ``*`` (no version named)."""
    version = expected_version(request)
    if version is None:
        raise PreconditionRequired()
    return version


def conditional_response(request, response: Response, etag: str) -> Response:
    """Set ``ETag``; answer 304 when ``If-None-Match`` already holds it."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match and (if_none_match.strip() == "*" or etag in _tags(if_none_match)):
        not_modified = Response(status=status.HTTP_304_NOT_MODIFIED)
        not_modified["ETag"] = etag
        return not_modified
    response["ETag"] = etag
    return response
