"""OpenAPI generation: every operation documents the error shape, conditional headers and roles."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from apicore.errors import ErrorSerializer

ERROR_DESCRIPTIONS = {
    "400": "Invalid input: `errors` names each field and the rule it broke.",
    "401": "Missing, invalid, expired or revoked token.",
    "403": "Your role may not do this (e.g. sponsors are read-only; site investigators cannot write).",
    "404": "No such record among those your role may see (another site's record is a 404, not a 403).",
    "409": "Conflicting concurrent edit: `If-Match` names a version that is no longer current. Nothing was changed.",
    "413": "The request body is larger than the server accepts.",
    "428": "`If-Match` is missing: an update or void must name the record version it is based on (its `ETag`).",
    "429": "Too many requests; retry after `Retry-After` seconds.",
    "503": "A backing service is down; retry after `Retry-After` seconds.",
}
WRITE_METHODS = {"POST", "PUT", "PATCH"}
# Versioned writes of a clinical record: each must send If-Match (428 without it, 409 when stale).
VERSIONED_ACTIONS = {"update", "partial_update", "void"}

IF_MATCH_REQUIRED = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description='Required: the record version your change is based on, as returned in `ETag` (e.g. `"3"`). '
    "Missing: 428; a stale version: 409 (nothing is changed).",
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="An `ETag` from an earlier response; if unchanged the answer is 304 with no body.",
)
ETAG = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=["200"],
    required=False,
    description='Record version (`"<version>"`) for a record, a content hash for lists.',
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=["429", "503"],
    required=False,
    description="Seconds to wait before retrying.",
)


class RegistryAutoSchema(AutoSchema):
    """Adds the error responses, ``If-Match``/``If-None-Match`` and ``ETag`` to every operation."""

    def _action(self) -> str | None:
        return getattr(self.view, "action", None)

    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        conditional = getattr(self.view, "conditional_requests", True)
        if self.method == "GET" and conditional:
            params += [IF_NONE_MATCH, ETAG]
        if self._action() in VERSIONED_ACTIONS:
            params.append(IF_MATCH_REQUIRED)
        params.append(RETRY_AFTER)
        return params

    def _error_codes(self) -> list[str]:
        codes = ["400", "401", "403", "404", "429"]
        if self._action() in VERSIONED_ACTIONS:
            codes.append("409")
        if self._action() in VERSIONED_ACTIONS:
            codes.append("428")
        if self.method in WRITE_METHODS:
            codes.append("413")
        codes += getattr(self.view, "extra_error_codes", [])
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if self.method == "GET" and getattr(self.view, "conditional_requests", True):
            responses.setdefault("304", {"description": "Not modified (the `If-None-Match` ETag is current)."})
        for code in self._error_codes():
            if code not in responses:
                error = OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
                responses[code] = self._get_response_for_code(error, code, direction=direction)
        return responses

    def get_description(self):
        description = super().get_description() or ""
        roles = getattr(self.view, "roles_doc", None)
        if roles:
            description = f"{description}\n\n**Roles:** {roles}".strip()
        return description


def role_views_any_of(result, generator, request, public):
    """Role-dependent representations may share fields, so they are ``anyOf``, not ``oneOf``."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("RoleView") and "oneOf" in component:
            component["anyOf"] = component.pop("oneOf")
    return result
