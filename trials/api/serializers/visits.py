"""Visits with their BPI assessment and opioid entries; the visit-data input of ``visit_record``."""

from __future__ import annotations

from rest_framework import serializers

from trials import crf
from trials.api.serializers.common import HIDDEN_AUDIT_FIELDS, ClinicalReadSerializer, PatientRefReadMixin
from trials.domain import mme
from trials.models import MedicationUse, OpioidStatus, PainAssessment, Visit

PAIN_ITEMS = crf.form_of(PainAssessment).fields  # the BPI form, declared in trials.crf (with its provenance)
PAIN_INPUT_ITEMS = crf.form_of(PainAssessment).entered_fields  # what a user enters: not the source or submission time


class PainAssessmentSerializer(serializers.ModelSerializer):
    interference_score = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="Mean of the answered interference items when at least 4 of 7 are answered, else null.",
    )

    class Meta:
        model = PainAssessment
        fields = ("id", "version", *PAIN_ITEMS, "interference_score")


class ActiveEntriesListSerializer(serializers.ListSerializer):
    """Only entries that are not voided (replaced entries stay in the audit history)."""

    def to_representation(self, data):
        rows = data.all() if hasattr(data, "all") else data
        return [self.child.to_representation(row) for row in rows if row.voided_at is None]


class MedicationUseSerializer(serializers.ModelSerializer):
    class Meta:
        model = MedicationUse
        fields = (
            "id",
            "drug",
            "route",
            "dose",
            "unit",
            "doses_per_day",
            "mme_factor",
            "factor_source",
            "mme_per_day",
            "mme_table_version",
        )
        list_serializer_class = ActiveEntriesListSerializer


class VisitSerializer(PatientRefReadMixin, ClinicalReadSerializer):
    pain = PainAssessmentSerializer(read_only=True, allow_null=True)
    medications = MedicationUseSerializer(many=True, read_only=True)
    omed = serializers.DecimalField(
        max_digits=9,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        help_text="Total MME/day (OMED): 0 for 'no opioids', null when not recorded.",
    )

    class Meta:
        model = Visit
        exclude = (*HIDDEN_AUDIT_FIELDS, "opioid_reviewed_by")  # who reviewed: an audit stamp like the other *_by


PainInputSerializer = type(
    "PainInputSerializer",
    (serializers.Serializer,),
    {
        "__module__": __name__,
        "__doc__": "BPI items 0–10 (relief 0–100 in steps of 10); range rules are checked by ``visit_record``.",
        **{item: serializers.IntegerField(required=False, allow_null=True) for item in PAIN_INPUT_ITEMS},
    },
)


class MedicationInputSerializer(serializers.Serializer):
    drug = serializers.ChoiceField(choices=mme.DRUG_CHOICES)
    route = serializers.ChoiceField(choices=mme.ROUTE_CHOICES)
    dose = serializers.DecimalField(max_digits=8, decimal_places=2)
    unit = serializers.ChoiceField(choices=mme.UNIT_CHOICES)
    doses_per_day = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        required=False,
        allow_null=True,
        help_text="Omitted/null = once a day; must be > 0. For a patch (mcg/h): the number of patches worn at once.",
    )
    mme_factor = serializers.DecimalField(
        max_digits=6,
        decimal_places=3,
        required=False,
        allow_null=True,
        help_text="Explicit factor for a drug/route outside the CDC 2022 table; needs factor_source.",
    )
    factor_source = serializers.CharField(required=False, allow_blank=True, max_length=200)


class VisitRecordSerializer(serializers.Serializer):
    """Visit data as one unit. PATCH keeps omitted parts as they are; ``reason`` is required once the visit has data."""

    visit_date = serializers.DateField(allow_null=True, help_text="Null only for a visit recorded as not done.")
    opioid_status = serializers.ChoiceField(choices=OpioidStatus.choices)
    pain = PainInputSerializer()
    medications = MedicationInputSerializer(many=True)
    missing_codes = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text="Why a BPI item has no value: {item: code} with NASK (not asked), UNK (asked but unknown), "
        "NA (not applicable) or ASKU (asked, declined to answer); an empty code removes it. Codes are validated by visit_record.",
    )
    not_done_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The visit did not take place, and why (then no date, scores or opioid rows).",
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, help_text="Required when correcting a visit that already has data."
    )
