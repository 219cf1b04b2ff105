"""Test data builders that go through the services, as real users would."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model

from trials import services
from trials.models import Membership, Patient, Site


def make_user(username: str, role: str, site: Site | None, password: str = "pw-Secret-123"):
    user = get_user_model().objects.create_user(username=username, password=password)
    Membership.objects.create(user=user, role=role, site=site)
    return user


def patient_data(**overrides: Any) -> dict[str, Any]:
    enrollment = overrides.pop("enrollment_date", dt.date(2026, 1, 10))
    data = {
        "birth_year": 1960,
        "sex": "F",
        "histology": "breast",
        "ecog": 1,
        "consent_date": enrollment - dt.timedelta(days=2),
        "enrollment_date": enrollment,
        "day0": enrollment + dt.timedelta(days=5),
        "screening_worst_pain": 8,
        "life_expectancy_over_3_months": True,
        "prior_treatment_of_index_lesion": False,
    }
    data.update(overrides)
    return data


def spine_lesion(**overrides: Any) -> dict[str, Any]:
    # L1 junctional 3 + mechanical 3 + lytic 2 + normal 0 + none 0 + none 0 = SINS 8
    data = {
        "region": "spine",
        "spine_level": "L1",
        "lesion_type": "lytic",
        "sins_pain": "mechanical",
        "sins_alignment": "normal",
        "sins_collapse": "none",
        "sins_posterolateral": "none",
        "bilsky_grade": "1a",
        "posterior_wall_involved": False,
    }
    data.update(overrides)
    return data


def pelvic_lesion(**overrides: Any) -> dict[str, Any]:
    data = {"region": "pelvis", "bone": "acetabulum", "lesion_type": "lytic", "mechanical_or_functional_pain": True}
    data.update(overrides)
    return data


def enroll_patient(actor, site: Site, *, with_procedure: bool = True, lesion: dict | None = None, **overrides) -> Patient:
    patient = services.patient_enroll(
        actor=actor, site=site, patient_data=patient_data(**overrides), lesion_data=lesion or spine_lesion()
    )
    if with_procedure:
        services.procedure_record(
            actor=actor,
            patient=patient,
            data={
                "procedure_date": patient.day0,
                "modality": "RFA",
                "augmentation": "cement",
                "cement_technique": "vertebroplasty",
                "cement_volume_ml": Decimal("3.5"),
                "cement_leakage": False,
            },
        )
    patient.refresh_from_db()
    return patient


def visit_data(
    visit_date: dt.date, *, worst: int = 4, meds: list[dict] | None = None, opioid_status: str | None = None
) -> services.VisitData:
    meds = meds or []
    return services.VisitData(
        visit_date=visit_date,
        pain={"worst": worst, "least": 1, "average": 3, "current": 2},
        opioid_status=opioid_status or ("taking" if meds else "none"),
        medications=meds,
    )


def if_match(record) -> dict[str, str]:
    """The ``If-Match`` header naming ``record``'s current version, as the API requires on updates (issue 14)."""
    version = type(record)._default_manager.filter(pk=record.pk).values_list("version", flat=True).get()
    return {"HTTP_IF_MATCH": f'"{version}"'}
