"""A write interrupted by a database error leaves no partial record (issue 7 §3)."""

from unittest import mock

import pytest
from django.db import OperationalError

from tests.factories import patient_data, spine_lesion
from trials import services
from trials.models import Lesion, Patient, Site, Visit

pytestmark = pytest.mark.django_db(transaction=True)


def test_enrollment_interrupted_after_patient_insert_leaves_nothing(coordinator, site):
    from trials.services import patients as patient_services

    real_save = patient_services.save_audited
    calls = {"n": 0}

    def failing_save(instance, **kw):
        calls["n"] += 1
        if isinstance(instance, Visit) and calls["n"] > 4:
            raise OperationalError("server closed the connection unexpectedly")
        return real_save(instance, **kw)

    with mock.patch.object(patient_services, "save_audited", failing_save), pytest.raises(OperationalError):
        services.patient_enroll(actor=coordinator, site=site, patient_data=patient_data(), lesion_data=spine_lesion())
    assert calls["n"] > 4  # the patient, the lesion and some visits had been written before the fault
    assert Patient.objects.count() == 0
    assert Lesion.objects.count() == 0
    assert Visit.objects.count() == 0
    assert Patient.history.count() == 0
    # the study-ID counter rolled back too: the next enrollment gets ATL-0001
    assert Site.objects.get(pk=site.pk).next_patient_number == 1
    p = services.patient_enroll(actor=coordinator, site=site, patient_data=patient_data(), lesion_data=spine_lesion())
    assert p.study_id == "ATL-0001"
