"""Each clinical field is declared once, in trials.crf, and every layer lists exactly the declared fields (issue 10, A.1).

Adding a field to a form's declaration (or to its model and the form's field tuple) must reach the API input,
the CSV/XLSX exports, the sponsor view, the ODM metadata and the REDCap dictionary without another edit;
these tests fail when a layer keeps its own list.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import ImproperlyConfigured

from trials import crf, deidentification
from trials.access import SYSTEM
from trials.api.serializers import events, registry, treatment, visits
from trials.interop import forms as interop_forms
from trials.interop.odm import group_oid, item_oid, odm_build
from trials.interop.redcap import RECORD_ID, dictionary_csv
from trials.interop.tabular import CLINICAL, EXPORTS, TIMESTAMPS, sponsor_columns
from trials.models import (
    AdverseEvent,
    ImagingAssessment,
    Lesion,
    MedicationUse,
    PainAssessment,
    Patient,
    Procedure,
    RadiationCourse,
    Site,
    SkeletalEvent,
    StudyExit,
    Visit,
)

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
# Columns an export adds around a form's fields: record keys and bookkeeping.
KEYS = {
    "study_id",
    "site__code",
    "patient__study_id",
    "patient__site__code",
    "visit_code",
    "target_date",
    "window_start",
    "window_end",
    "voided_at",
    *CLINICAL,
    *TIMESTAMPS,
}
TABLES = {
    "patients": Patient,
    "lesions": Lesion,
    "procedures": Procedure,
    "radiation-courses": RadiationCourse,
    "visits": Visit,
    "adverse-events": AdverseEvent,
    "skeletal-events": SkeletalEvent,
    "imaging-assessments": ImagingAssessment,
    "study-exits": StudyExit,
}
INPUT_FIELDS = {
    Patient: registry.PATIENT_INPUT_FIELDS,
    Lesion: ("is_index", *registry.LESION_INPUT_FIELDS),
    Procedure: treatment.PROCEDURE_INPUT_FIELDS,
    RadiationCourse: treatment.RADIATION_INPUT_FIELDS,
    AdverseEvent: events.AE_INPUT_FIELDS,
    SkeletalEvent: events.SRE_INPUT_FIELDS,
    ImagingAssessment: events.IMAGING_INPUT_FIELDS,
    StudyExit: events.EXIT_INPUT_FIELDS,
    PainAssessment: visits.PAIN_INPUT_ITEMS,
}
READ_SERIALIZERS = {
    Patient: registry.PatientSerializer,
    Lesion: registry.LesionSerializer,
    Procedure: treatment.ProcedureSerializer,
    RadiationCourse: treatment.RadiationCourseSerializer,
    Visit: visits.VisitSerializer,
    PainAssessment: visits.PainAssessmentSerializer,
    MedicationUse: visits.MedicationUseSerializer,
    AdverseEvent: events.AdverseEventSerializer,
    SkeletalEvent: events.SkeletalEventSerializer,
    ImagingAssessment: events.ImagingAssessmentSerializer,
    StudyExit: events.StudyExitSerializer,
}


def test_every_field_is_declared_with_what_the_layers_need():
    for form in crf.FORMS:
        for item in form.items:
            assert item.label and item.variable.startswith(form.prefix), item
            assert item.kind in crf.Kind
            if item.data_type == "text" and not item.choices:
                assert item.kind in crf.WITHHELD_KINDS, item  # typed text is withheld from sponsors
    worst = crf.form_of(PainAssessment).item("worst")
    assert (worst.minimum, worst.maximum, worst.missing_codes) == (0, 10, (crf.NOT_RECORDED,))
    assert crf.form_of(Procedure).item("cement_volume_ml").unit == "mL"
    assert crf.form_of(Procedure).item("device").kind == crf.Kind.DEVICE_IDENTIFIER
    assert interop_forms.FORMS is crf.FORMS  # the exchange code keeps importing the same declaration


def test_an_unclassified_text_field_fails_the_build():
    form = crf.Form("site", "Site", Site, ("active", "name"), crf.ENROLLMENT_EVENT)
    with pytest.raises(ImproperlyConfigured, match="Site.name is text without a code list and is not classified"):
        _ = form.items


@pytest.mark.parametrize("table", sorted(TABLES))
def test_exports_list_exactly_the_declared_fields(table):
    model = TABLES[table]
    declared = list(crf.form_of(model).fields)
    if model is Visit:
        declared += [f"pain__{name}" for name in crf.form_of(PainAssessment).fields]
    assert [c for c in EXPORTS[table].columns if c not in KEYS] == declared
    dates = {
        c
        for c in declared
        if crf.form_of(PainAssessment if c.startswith("pain__") else model).item(c.removeprefix("pain__")).data_type == "date"
    }
    assert dates <= set(EXPORTS[table].dates)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_the_sponsor_view_withholds_exactly_the_classified_free_text(table):
    spec = EXPORTS[table]
    shown = {c.rsplit("__", 1)[-1] for c in sponsor_columns(spec)}
    for column in spec.columns:
        leaf = column.rsplit("__", 1)[-1]
        if column in KEYS or leaf == "day0":
            continue
        assert (leaf in shown) is (leaf not in crf.withheld_fields()), column
    assert crf.withheld_fields() <= deidentification.FREE_TEXT_FIELDS


@pytest.mark.parametrize("model", list(READ_SERIALIZERS), ids=lambda m: m.__name__)
def test_api_reads_every_declared_field_and_takes_exactly_the_entered_ones(model):
    form = crf.form_of(model)
    assert set(form.fields) <= set(READ_SERIALIZERS[model]().fields)
    if model in INPUT_FIELDS:
        assert tuple(INPUT_FIELDS[model]) == form.entered_fields


def test_web_forms_take_exactly_the_entered_fields():
    from trials.web.forms import clinical

    web = {
        Patient: clinical.PATIENT_FIELDS,
        Lesion: ["is_index", *clinical.LESION_FIELDS],
        Procedure: clinical.PROCEDURE_FIELDS,
        RadiationCourse: clinical.RADIATION_FIELDS,
        AdverseEvent: clinical.AE_FIELDS,
        SkeletalEvent: clinical.SRE_FIELDS,
        StudyExit: clinical.EXIT_FIELDS,
        ImagingAssessment: clinical.IMAGING_FIELDS,
    }
    for model, fields in web.items():
        assert tuple(fields) == crf.form_of(model).entered_fields, model.__name__


def test_redcap_dictionary_lists_exactly_the_declared_fields_with_their_ranges():
    rows = list(csv.reader(io.StringIO(dictionary_csv())))[1:]
    by_form: dict[str, list[str]] = {}
    for row in rows:
        if row[0] != RECORD_ID:
            by_form.setdefault(row[1], []).append(row[0])
    assert by_form == {form.name: [i.variable for i in form.items] for form in crf.FORMS}
    worst = next(r for r in rows if r[0] == "bpi_worst")
    assert (worst[8], worst[9]) == ("0", "10")


@pytest.mark.django_db
def test_odm_metadata_lists_exactly_the_declared_fields():
    root = odm_build(SYSTEM).getroot()
    groups = {g.get("OID"): [r.get("ItemOID") for r in g.findall(f"{ODM}ItemRef")] for g in root.iter(f"{ODM}ItemGroupDef")}
    assert groups == {group_oid(form): [item_oid(i) for i in form.items] for form in crf.FORMS}
