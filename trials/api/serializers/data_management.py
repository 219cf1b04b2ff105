"""Serializers of data management (issue 6): data queries and their answers, visit signatures, locks."""

from __future__ import annotations

from rest_framework import serializers

from trials.models import DataQuery, Lock, LockScope, Signature, SignatureMeaning
from trials.services import signoff


class DataQueryResponseSerializer(serializers.Serializer):
    action = serializers.CharField()
    author = serializers.CharField(source="author.username", default=None)
    message = serializers.CharField()
    old_value = serializers.CharField()
    new_value = serializers.CharField()
    created_at = serializers.DateTimeField()


class DataQuerySerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id", read_only=True)
    record_type = serializers.CharField(source="content_type.model", read_only=True)
    status = serializers.CharField(read_only=True, help_text="open, answered or closed")
    responses = DataQueryResponseSerializer(many=True, read_only=True)

    class Meta:
        model = DataQuery
        fields = (
            "id",
            "patient",
            "record_type",
            "object_id",
            "field_name",
            "message",
            "status",
            "rule_code",
            "opened_at",
            "closed_at",
            "responses",
        )


class DataQueryOpenSerializer(serializers.Serializer):
    record_type = serializers.ChoiceField(
        choices=[
            "patient",
            "lesion",
            "procedure",
            "radiationcourse",
            "visit",
            "painassessment",
            "medicationuse",
            "adverseevent",
            "skeletalevent",
            "imagingassessment",
            "studyexit",
        ]
    )
    object_id = serializers.IntegerField()
    field_name = serializers.CharField()  # type: ignore[assignment]  # the API's field is named field_name
    message = serializers.CharField()


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField(required=False, allow_blank=True, default="")


class SignSerializer(serializers.Serializer):
    password = serializers.CharField(write_only=True, help_text="Your password, re-entered: the electronic signature.")
    meaning = serializers.ChoiceField(
        choices=SignatureMeaning.choices,
        required=False,
        default=signoff.DEFAULT_MEANING,
        help_text="What the signature means (21 CFR 11.50): author, review or approval.",
    )


class SignatureSerializer(serializers.ModelSerializer):
    signer = serializers.CharField(source="signer.username")

    class Meta:
        model = Signature
        fields = (
            "id",
            "visit",
            "signer",
            "printed_name",
            "meaning_code",
            "meaning",
            "signed_at",
            "time_zone",
            "visit_version",
            "invalidated_at",
            "invalidated_by_version",
        )


class LockSerializer(serializers.ModelSerializer):
    patient = serializers.CharField(source="patient.study_id", default=None, allow_null=True)
    site = serializers.CharField(source="site.code", default=None, allow_null=True)
    locked_by = serializers.CharField(source="locked_by.username")

    class Meta:
        model = Lock
        fields = ("id", "scope", "patient", "site", "reason", "locked_by", "locked_at", "unlocked_at", "unlock_reason")


class LockCreateSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(
        choices=LockScope.choices,
        required=False,
        allow_null=True,
        default=None,
        help_text="patient, site or study; may be omitted only when a patient is given.",
    )
    patient = serializers.CharField(required=False, allow_null=True, default=None, help_text="Study ID (scope patient).")
    site = serializers.CharField(required=False, allow_null=True, default=None, help_text="Site code (scope site).")
    reason = serializers.CharField()

    def validate(self, attrs):
        scope = attrs.get("scope") or (LockScope.PATIENT if attrs.get("patient") else None)
        if scope is None:
            raise serializers.ValidationError({"scope": "Choose what to lock: patient, site or study."})
        needed = {LockScope.PATIENT: "patient", LockScope.SITE: "site"}.get(scope)
        if needed and not attrs.get(needed):
            raise serializers.ValidationError({needed: f"A {scope} lock needs the {needed}."})
        return {**attrs, "scope": scope}
