"""OpenAPI documentation of a resource viewset: staff or sponsor representation, inputs, tags."""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_view

from trials.api.deidentify import sponsor_serializer
from trials.api.serializers.common import ReasonSerializer
from trials.api.serializers.history import HistoryEntrySerializer


def role_view(staff_class, *, many: bool = False) -> PolymorphicProxySerializer:
    """Staff representation, or the de-identified one for sponsors (``anyOf`` in the schema)."""
    name = staff_class.__name__.removesuffix("Serializer")
    return PolymorphicProxySerializer(
        component_name=f"{name}RoleView",
        serializers=[staff_class, sponsor_serializer(staff_class)],
        resource_type_field_name=None,
        many=many,
    )


def document_resource(tag: str, *, label: str):
    """Class decorator: per-action request/response documentation for a resource viewset."""

    def decorate(viewset):
        staff = viewset.serializer_class
        actions = {
            "list": extend_schema(tags=[tag], summary=f"List {label}", responses=role_view(staff, many=True)),
            "retrieve": extend_schema(tags=[tag], summary=f"One {label.rstrip('s')}", responses=role_view(staff)),
        }
        if hasattr(viewset, "history"):
            actions["history"] = extend_schema(
                tags=[tag], summary="Audit history", responses=HistoryEntrySerializer(many=True), filters=False
            )
        if getattr(viewset, "create_serializer_class", None) is not None:
            actions["create"] = extend_schema(
                tags=[tag], summary=f"Record {label}", request=viewset.create_serializer_class, responses={201: staff}
            )
        if getattr(viewset, "update_serializer_class", None) is not None:
            update = viewset.update_serializer_class
            actions["update"] = extend_schema(tags=[tag], summary="Correct (reason required)", request=update, responses=staff)
            actions["partial_update"] = extend_schema(
                tags=[tag], summary="Correct some fields (reason required)", request=update, responses=staff
            )
            actions["void"] = extend_schema(tags=[tag], summary="Void with a reason", request=ReasonSerializer, responses=staff)
        return extend_schema_view(**actions)(viewset)

    return decorate
