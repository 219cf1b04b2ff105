"""django-filter filter sets: site, categorical fields, ``updated_since``, date ranges (staff) and day ranges (all).

Sponsors may not filter by calendar date (a date filter would reveal dates); they use
``<name>_day_min``/``<name>_day_max`` — days from day 0 — instead. Nor may they use any
filter anchored to a calendar instant: ``updated_since`` (bisecting it recovers a record's
timestamp) and the visit ``status`` (due/overdue/upcoming/missed are computed against
today; with the window days a sponsor sees, four of them bound day 0). All of these are
refused with a 400 *before* the queryset is touched, so the answer is the same whatever
the data: the refusal itself carries no information.
"""

from __future__ import annotations

import datetime as dt

import django_filters as df
from django.core.exceptions import ValidationError as FormValidationError
from django.db.models import Exists, F, OuterRef, Q
from rest_framework.exceptions import ValidationError

from apicore.permissions import is_sponsor_view
from trials.access import SITE_PATHS
from trials.deidentification import day_field_name
from trials.domain.schedule import VisitStatus
from trials.models import (
    AdverseEvent,
    ImagingAssessment,
    Lesion,
    Patient,
    Procedure,
    RadiationCourse,
    Site,
    SkeletalEvent,
    StudyExit,
    Visit,
)
from trials.models.sites import site_today_expression


def site_code_path(model) -> str:
    path = SITE_PATHS[str(model._meta.model_name)]
    return "code" if path == "id" else path.removesuffix("_id") + "__code"


class UtcIsoDateTimeField(df.fields.IsoDateTimeField):
    """ISO 8601 timestamp normalised to UTC; offsets beyond ±14:00 (none exist on Earth) are refused with a 400."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        offset = parsed.utcoffset()
        if offset is not None and abs(offset) > dt.timedelta(hours=14):
            raise FormValidationError("The UTC offset must be within ±14:00.", code="invalid")
        try:
            return parsed.astimezone(dt.UTC)
        except (OverflowError, ValueError) as exc:
            raise FormValidationError("Timestamp out of range.", code="invalid") from exc


class UtcIsoDateTimeFilter(df.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


SPONSOR_REFUSALS = {
    "updated_since": "Sponsors cannot filter by record timestamps (they would reveal when records changed).",
    "status": "Sponsors cannot filter visits by status: due, overdue, upcoming and missed are computed against today's "
    "date and would reveal calendar dates. Use visit_day_min / visit_day_max and visit (the visit code) instead.",
}


def refuse_for_sponsor(request, name: str) -> None:
    """400 naming the filter when a sponsor uses a filter anchored to a calendar instant (see module docstring)."""
    if request is not None and is_sponsor_view(request):
        raise ValidationError({name: [SPONSOR_REFUSALS[name]]})


class UpdatedSinceMixin:
    """``updated_since`` for staff; refused for sponsors."""

    def filter_updated_since(self, queryset, name, value):
        refuse_for_sponsor(self.request, name)
        return self.updated_since_queryset(queryset, value)

    def updated_since_queryset(self, queryset, value):
        return queryset.filter(updated_at__gte=value)


class RegistryFilterSet(UpdatedSinceMixin, df.FilterSet):
    site = df.CharFilter(method="filter_site", help_text="Site code, e.g. ATL.")
    updated_since = UtcIsoDateTimeFilter(
        method="filter_updated_since",
        help_text="Only records changed at or after this ISO 8601 timestamp (staff only; sponsors get 400).",
    )
    voided = df.BooleanFilter(field_name="voided_at", lookup_expr="isnull", exclude=True, help_text="true: only voided records.")

    def filter_site(self, queryset, name, value):
        return queryset.filter(**{site_code_path(queryset.model): value})

    def filter_date_range(self, queryset, name, value):
        if self.request is not None and is_sponsor_view(self.request):
            raise ValidationError({name: ["Sponsors filter by days from day 0 (…_day_min / …_day_max), not by calendar date."]})
        field, bound = name.rsplit("_", 1)
        return queryset.filter(**{f"{field}__{'gte' if bound == 'after' else 'lte'}": value})

    def filter_day_range(self, queryset, name, value):
        stem, bound = name.rsplit("_day_", 1)
        field = self.day_sources[stem]
        day0 = F(self.day0_path)
        shifted = day0 + dt.timedelta(days=int(value))
        return queryset.filter(**{f"{field}__{'gte' if bound == 'min' else 'lte'}": shifted})


def filterset_for(
    model, *, fields: tuple[str, ...] = (), dates: tuple[str, ...] = (), day0_path: str = "patient__day0"
) -> type[df.FilterSet]:
    """A filter set with exact filters on ``fields``, ``<date>_after/_before`` and ``<day>_min/_max`` per date."""
    day_sources: dict[str, str] = {}
    attrs: dict[str, object] = {"day0_path": day0_path, "day_sources": day_sources}
    for date in dates:
        for bound in ("after", "before"):
            attrs[f"{date}_{bound}"] = df.DateFilter(
                method="filter_date_range", help_text=f"{date} on or {bound} this date (staff only; sponsors get 400)."
            )
        stem = day_field_name(date).removesuffix("_day")
        day_sources[stem] = date
        for bound, word in (("min", "at least"), ("max", "at most")):
            attrs[f"{stem}_day_{bound}"] = df.NumberFilter(
                method="filter_day_range",
                min_value=-36500,
                max_value=36500,
                help_text=f"{date} {word} this many days from day 0.",
            )
    attrs["Meta"] = type("Meta", (), {"model": model, "fields": list(fields)})
    return type(f"{model.__name__}FilterSet", (RegistryFilterSet,), attrs)


class SiteFilterSet(UpdatedSinceMixin, df.FilterSet):
    code = df.CharFilter()
    active = df.BooleanFilter()
    updated_since = UtcIsoDateTimeFilter(
        method="filter_updated_since", help_text="Sites changed at or after this timestamp (staff only; sponsors get 400)."
    )

    class Meta:
        model = Site
        fields = ["code", "active"]

    def updated_since_queryset(self, queryset, value):
        return queryset.filter(pk__in=Site.history.filter(history_date__gte=value).values("id"))


def visit_status_q(status: str, today: dt.date | F) -> Q:
    """SQL form of ``schedule.visit_status`` (docs/domain.md §2) for filtering."""
    if status == VisitStatus.COMPLETED:
        return Q(visit_date__isnull=False)
    if status == VisitStatus.NOT_DONE:
        return Q(visit_date__isnull=True) & ~Q(not_done_reason="")
    not_applicable = Q(_exited_before_window_end=True)
    pending = Q(visit_date__isnull=True, not_done_reason="")
    rules = {
        VisitStatus.NOT_APPLICABLE: not_applicable,
        VisitStatus.UPCOMING: ~not_applicable & Q(window_start__gt=today),
        VisitStatus.MISSED: ~not_applicable & Q(window_end__lt=today),
        VisitStatus.DUE: ~not_applicable & Q(window_start__lte=today, target_date__gte=today),
        VisitStatus.OVERDUE: ~not_applicable & Q(target_date__lt=today, window_end__gte=today),
    }
    return pending & rules[VisitStatus(status)]


class VisitFilterSet(filterset_for(Visit, dates=("visit_date", "target_date"))):  # type: ignore[misc]  # a class built at import
    visit = df.ChoiceFilter(field_name="visit_code", choices=Visit._meta.get_field("visit_code").choices)
    status = df.ChoiceFilter(
        choices=[(s.value, s.value) for s in VisitStatus],
        method="filter_status",
        help_text="Visit status as of today at the patient's site (upcoming, due, overdue, missed, completed, not "
        "applicable, not done); staff only, sponsors get 400 (it would reveal dates).",
    )

    def filter_status(self, queryset, name, value):
        refuse_for_sponsor(self.request, name)
        # Each visit's status is judged on the local date of its patient's site.
        queryset = queryset.annotate(_local_today=site_today_expression())
        exited = StudyExit.objects.active().filter(
            patient_id=OuterRef("patient_id"), exit_date__lte=OuterRef("window_end"), exit_date__lt=OuterRef("_local_today")
        )
        return queryset.annotate(_exited_before_window_end=Exists(exited)).filter(visit_status_q(value, F("_local_today")))


PatientFilterSet = filterset_for(Patient, fields=("histology", "sex", "ecog"), dates=("enrollment_date",), day0_path="day0")
LesionFilterSet = filterset_for(Lesion, fields=("region", "is_index", "lesion_type"))
ProcedureFilterSet = filterset_for(Procedure, fields=("modality", "augmentation"), dates=("procedure_date",))
RadiationCourseFilterSet = filterset_for(RadiationCourse, fields=("sequence", "technique"), dates=("start_date",))
AdverseEventFilterSet = filterset_for(
    AdverseEvent, fields=("sir_grade", "ctcae_grade", "relatedness", "serious", "outcome"), dates=("onset_date",)
)
SkeletalEventFilterSet = filterset_for(SkeletalEvent, fields=("event_type", "at_index_lesion"), dates=("event_date",))
ImagingAssessmentFilterSet = filterset_for(
    ImagingAssessment,
    fields=("imaging_modality", "first_post_procedure", "viable_tumour", "local_tumour_progression"),
    dates=("assessment_date",),
)
StudyExitFilterSet = filterset_for(StudyExit, fields=("exit_type",), dates=("exit_date",))
