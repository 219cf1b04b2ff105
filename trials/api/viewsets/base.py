"""Base viewsets: scoped reads with ETags; service-backed writes with reason and If-Match; void; history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apicore.etags import conditional_response, content_etag, expected_version, required_version, version_etag
from apicore.pagination import RegistryCursorPagination
from apicore.permissions import ROLE_DOC_HISTORY, ROLE_DOC_READ, ROLE_DOC_WRITE, RegistryRolePermission, is_sponsor_view
from apicore.views import ApiViewMixin
from trials import services
from trials.access import scope_queryset
from trials.api.deidentify import sponsor_serializer
from trials.api.serializers.common import ReasonSerializer
from trials.api.serializers.history import HistoryEntrySerializer, history_entries
from trials.models.base import ClinicalRecord

WRITE_ACTIONS = {"create", "update", "partial_update", "void"}

_T = TypeVar("_T")


def _configured(value: _T | None, name: str) -> _T:
    """A viewset's class attribute that its subclass must set; ImproperlyConfigured when it did not."""
    if value is None:
        raise ImproperlyConfigured(f"{name} is not set on this viewset")
    return value


class RegistryReadViewSet(ApiViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Scoped list/retrieve. Sponsors get the de-identified representation of ``serializer_class``."""

    permission_classes = [RegistryRolePermission]
    pagination_class = RegistryCursorPagination
    filter_backends = [DjangoFilterBackend]
    lookup_value_regex = "[0-9]+"
    base_queryset: QuerySet

    @property
    def write_action(self) -> bool:
        return self.action in WRITE_ACTIONS

    @property
    def sponsor_forbidden(self) -> bool:
        return self.action == "history"

    @property
    def roles_doc(self) -> str:
        if self.action in WRITE_ACTIONS:
            return ROLE_DOC_WRITE
        return ROLE_DOC_HISTORY if self.action == "history" else ROLE_DOC_READ

    def get_queryset(self) -> QuerySet:
        return scope_queryset(self.request.user, self.base_queryset.all())

    def get_serializer_class(self):
        if not getattr(self, "swagger_fake_view", False) and is_sponsor_view(self.request):
            return sponsor_serializer(self.serializer_class)
        return self.serializer_class

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        return conditional_response(request, response, content_etag(response.data))

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        version = response.data.get("version")
        return conditional_response(request, response, version_etag(version) if version else content_etag(response.data))

    def record_response(self, instance: Model, status_code: int = status.HTTP_200_OK) -> Response:
        """The staff representation of a record just written, with its new ETag."""
        fresh = self.base_queryset.get(pk=instance.pk)
        serializer_class = _configured(self.serializer_class, "serializer_class")
        response = Response(serializer_class(fresh, context=self.get_serializer_context()).data, status=status_code)
        response["ETag"] = version_etag(fresh.version)
        return response


class HistoryMixin:
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request, *args, **kwargs):
        """Audit history, oldest first: who, when, why, and each change old → new."""
        instance = self.get_object()
        records = list(instance.history.select_related("history_user").order_by("history_date", "history_id"))
        data = history_entries(records)
        response = Response(HistoryEntrySerializer(data, many=True).data)
        return conditional_response(request, response, content_etag(response.data))


class ClinicalRecordViewSet(HistoryMixin, RegistryReadViewSet):
    """Update and void with a reason and a required If-Match, and audit history."""

    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    update_serializer_class: type[BaseSerializer] | None = None

    def apply_update(self, instance: ClinicalRecord, data: dict, *, partial: bool) -> Model:
        reason = data.pop("reason", None)
        return services.clinical_record_update(
            actor=self.request.user,
            instance=instance,
            changes=data,
            reason=reason,
            expected_version=expected_version(self.request),
        )

    def update(self, request, *args, partial: bool = False, **kwargs):
        """PUT/PATCH: ``If-Match`` is required (428 without it); a stale version is a 409."""
        instance = self.get_object()
        required_version(request)
        serializer_class = _configured(self.update_serializer_class, "update_serializer_class")
        serializer = serializer_class(data=request.data, partial=partial, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return self.record_response(self.apply_update(instance, dict(serializer.validated_data), partial=partial))

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    @action(detail=True, methods=["post"])
    def void(self, request, *args, **kwargs):
        """Void the record with a reason (nothing clinical is deleted).

        ``If-Match`` is required, as for updates: 428 without it (or with ``*``), 409 on a stale version,
        so a void never acts on a version the client has not seen.
        """
        instance = self.get_object()
        version = required_version(request)
        serializer = ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        voided = services.clinical_record_void(
            actor=request.user,
            instance=instance,
            reason=serializer.validated_data["reason"],
            expected_version=version,
        )
        return self.record_response(voided)


class CreateRecordMixin:
    """POST on the list: validate the input shape, then ``create_record`` calls the service."""

    request: Any  # set by the view's dispatch
    create_serializer_class: type[BaseSerializer] | None = None
    # The service that creates a record for a patient: ``service(actor=, patient=, data=)``.
    create_service: Callable[..., Model] | None = None

    def create_record(self, data: dict) -> Model:
        patient = data.pop("patient")
        service = _configured(type(self).create_service, "create_service")
        return service(actor=self.request.user, patient=patient, data=data)

    def create(self, request, *args, **kwargs):
        serializer_class = _configured(self.create_serializer_class, "create_serializer_class")
        serializer = serializer_class(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return self.record_response(self.create_record(dict(serializer.validated_data)), status.HTTP_201_CREATED)
