"""API for data management (issue 6): data queries, visit signatures and locks. Views are thin: scoping by
``scope_queryset``, decisions by the services (``data_queries``, ``signoff``, ``locking``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from apicore.permissions import HasRegistryRole, RegistryRolePermission, StaffReadPermission, require_data_manager
from apicore.views import ApiViewMixin
from trials.access import access_for, scope_queryset
from trials.api.serializers.data_management import (
    DataQueryOpenSerializer,
    DataQuerySerializer,
    LockCreateSerializer,
    LockSerializer,
    MessageSerializer,
    SignatureSerializer,
    SignSerializer,
)
from trials.models import DataQuery, Lock, LockScope, Patient, Site, Visit
from trials.services import data_queries, locking, signoff


def _queries(user):
    return scope_queryset(user, DataQuery.objects.select_related("patient", "content_type").prefetch_related("responses__author"))


class DataQueryListView(ApiViewMixin, APIView):
    permission_classes = [StaffReadPermission]

    @extend_schema(tags=["data management"], summary="Data queries (open first)", responses=DataQuerySerializer(many=True))
    def get(self, request):
        queries = _queries(request.user)
        if request.query_params.get("status"):
            queries = queries.filter(status=request.query_params["status"])
        return Response(DataQuerySerializer(queries.order_by("status", "-opened_at")[:500], many=True).data)

    @extend_schema(
        tags=["data management"],
        summary="Open a query (data managers)",
        request=DataQueryOpenSerializer,
        responses={201: DataQuerySerializer},
    )
    def post(self, request):
        require_data_manager(request.user)
        data = DataQueryOpenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = DataQuery._meta.apps.get_model("trials", data.validated_data["record_type"])
        record = get_object_or_404(scope_queryset(request.user, model.objects.all()), pk=data.validated_data["object_id"])
        query = data_queries.data_query_open(
            actor=request.user,
            record=record,
            field_name=data.validated_data["field_name"],
            message=data.validated_data["message"],
        )
        return Response(DataQuerySerializer(query).data, status=status.HTTP_201_CREATED)


class _QueryActionView(ApiViewMixin, APIView):
    permission_classes = [HasRegistryRole]
    service: Callable[..., DataQuery] | None = None
    data_manager_only = True

    @extend_schema(tags=["data management"], request=MessageSerializer, responses=DataQuerySerializer)
    def post(self, request, pk: int):
        if self.data_manager_only:
            require_data_manager(request.user)
        query = get_object_or_404(_queries(request.user), pk=pk)
        data = MessageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        service = type(self).service
        if service is None:
            raise ImproperlyConfigured("service is not set on this view")
        query = service(actor=request.user, query=query, message=data.validated_data["message"])
        return Response(DataQuerySerializer(_queries(request.user).get(pk=query.pk)).data)


class DataQueryAnswerView(_QueryActionView):
    """The site answers (coordinators of the site, data managers)."""

    permission_classes = [RegistryRolePermission]
    service = staticmethod(data_queries.data_query_answer)
    data_manager_only = False


class DataQueryCloseView(_QueryActionView):
    service = staticmethod(data_queries.data_query_close)


class DataQueryReopenView(_QueryActionView):
    service = staticmethod(data_queries.data_query_reopen)


class VisitSignView(ApiViewMixin, APIView):
    permission_classes = [HasRegistryRole]

    @extend_schema(
        tags=["data management"],
        summary="Sign a completed visit (site investigators)",
        request=SignSerializer,
        responses={201: SignatureSerializer},
    )
    def post(self, request, pk: int):
        if not access_for(request.user).is_site_investigator:
            raise PermissionDenied("Only site investigators sign visits.")
        visit = get_object_or_404(scope_queryset(request.user, Visit.objects.all()), pk=pk)
        data = SignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        signature = signoff.visit_sign(
            actor=request.user, visit=visit, password=data.validated_data["password"], meaning=data.validated_data["meaning"]
        )
        return Response(SignatureSerializer(signature).data, status=status.HTTP_201_CREATED)


class LockListView(ApiViewMixin, APIView):
    permission_classes = [StaffReadPermission]

    @extend_schema(tags=["data management"], summary="Locks (active first)", responses=LockSerializer(many=True))
    def get(self, request):
        locks = Lock.objects.select_related("patient", "site", "locked_by").order_by("unlocked_at", "-locked_at")
        locks = locking.visible_locks(request.user, locks)
        return Response(LockSerializer(locks[:500], many=True).data)

    @extend_schema(
        tags=["data management"],
        summary="Lock a patient or the whole study (data managers)",
        request=LockCreateSerializer,
        responses={201: LockSerializer},
    )
    def post(self, request):
        require_data_manager(request.user)
        data = LockCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scope, reason = data.validated_data["scope"], data.validated_data["reason"]
        if scope == LockScope.PATIENT:
            patient = get_object_or_404(
                scope_queryset(request.user, Patient.objects.all()), study_id=data.validated_data["patient"]
            )
            lock = locking.patient_lock(actor=request.user, patient=patient, reason=reason)
        elif scope == LockScope.SITE:
            site = get_object_or_404(Site.objects.all(), code=data.validated_data["site"])
            lock = locking.site_lock(actor=request.user, site=site, reason=reason)
        else:
            lock = locking.study_lock(actor=request.user, reason=reason)
        return Response(LockSerializer(lock).data, status=status.HTTP_201_CREATED)


class LockReleaseView(ApiViewMixin, APIView):
    permission_classes = [HasRegistryRole]

    @extend_schema(
        tags=["data management"],
        summary="Unlock with a reason (data managers)",
        request=MessageSerializer,
        responses=LockSerializer,
    )
    def post(self, request, pk: int):
        require_data_manager(request.user)
        lock = get_object_or_404(Lock.objects.all(), pk=pk)
        data = MessageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lock = locking.lock_release(actor=request.user, lock=lock, reason=data.validated_data["message"])
        return Response(LockSerializer(lock).data)
