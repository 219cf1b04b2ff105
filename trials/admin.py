"""Admin for data managers: browse with site filters, search by study ID, read the audit trail.

Clinical records are read-only here: every write goes through the services
(web UI / API), which validate, require a reason and audit. Nothing can be
deleted from the admin.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from trials import models as m


class ReadOnlyClinicalAdmin(SimpleHistoryAdmin):
    list_per_page = 50
    history_list_display = ["history_change_reason"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _site_filter(path: str):
    class SiteFilter(admin.SimpleListFilter):
        title = "site"
        parameter_name = "site"

        def lookups(self, request, model_admin):
            return [(s.pk, s.code) for s in m.Site.objects.all()]

        def queryset(self, request, queryset):
            return queryset.filter(**{path: self.value()}) if self.value() else queryset

    return SiteFilter


@admin.register(m.Site)
class SiteAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "country", "active"]
    search_fields = ["code", "name"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(m.Membership)
class MembershipAdmin(SimpleHistoryAdmin):
    list_display = ["user", "role", "site"]
    list_filter = ["role", "site"]
    search_fields = ["user__username"]


@admin.register(m.Patient)
class PatientAdmin(ReadOnlyClinicalAdmin):
    list_display = ["study_id", "site", "enrollment_date", "day0", "ecog", "histology", "voided_at"]
    list_filter = [_site_filter("site_id"), "histology", "sex"]
    search_fields = ["study_id"]
    list_select_related = ["site"]


def _patient_admin(model, extra_display, path="patient__site_id", search="patient__study_id", select=("patient",)):
    attrs = {
        "list_display": ["__str__", *extra_display, "voided_at"],
        "list_filter": [_site_filter(path)],
        "search_fields": [search],
        "list_select_related": list(select),
    }
    return admin.register(model)(type(f"{model.__name__}Admin", (ReadOnlyClinicalAdmin,), attrs))


_patient_admin(m.Lesion, ["region", "spine_level", "bone", "sins_total"])
_patient_admin(m.Procedure, ["procedure_date", "modality", "augmentation"])
_patient_admin(m.RadiationCourse, ["sequence", "start_date", "total_dose_gy", "fractions", "technique"])
_patient_admin(m.Visit, ["visit_code", "target_date", "visit_date", "out_of_window", "opioid_status"])
_patient_admin(
    m.PainAssessment,
    ["worst", "average", "interference_score"],
    "visit__patient__site_id",
    "visit__patient__study_id",
    ("visit__patient",),
)
_patient_admin(
    m.MedicationUse,
    ["drug", "dose", "unit", "mme_per_day"],
    "visit__patient__site_id",
    "visit__patient__study_id",
    ("visit__patient",),
)
_patient_admin(m.AdverseEvent, ["onset_date", "sir_grade", "ctcae_grade", "relatedness", "serious"])
_patient_admin(m.SkeletalEvent, ["event_type", "event_date"])
_patient_admin(m.ImagingAssessment, ["lesion_instance", "assessment_date", "viable_tumour", "local_tumour_progression"])
_patient_admin(m.StudyExit, ["exit_type", "exit_date", "last_contact_date"])
