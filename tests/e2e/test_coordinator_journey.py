"""A coordinator's whole patient in the browser, no API: enroll → procedure → radiation → baseline and month-1
visits with opioids → AE and SRE → correct and void every record type with reasons → record death.

Screenshots of the new pages, at desktop and phone width, land in tests/e2e/screenshots/ (coordinator_journey_*).
"""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import log_in, screenshot
from trials.models import (
    AdverseEvent,
    Lesion,
    Patient,
    Procedure,
    RadiationCourse,
    SkeletalEvent,
    StudyExit,
    Visit,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def shots(page, name: str) -> None:
    """Desktop and phone-width screenshots of the current page."""
    page.set_viewport_size(DESKTOP)
    screenshot(page, f"coordinator_journey_{name}_desktop")
    page.set_viewport_size(PHONE)
    screenshot(page, f"coordinator_journey_{name}_phone")
    page.set_viewport_size(DESKTOP)


def fill(page, values: dict[str, str | bool], prefix: str = "id_") -> None:
    """Fill fields by id: selects by value, checkboxes by truth, everything else typed."""
    for name, value in values.items():
        field = page.locator(f"#{prefix}{name}")
        kind = field.evaluate("e => e.tagName === 'SELECT' ? 'select' : (e.type || '')")
        if kind == "select":
            field.select_option(str(value))
        elif kind == "checkbox":
            field.set_checked(bool(value))
        else:
            field.fill(str(value))


def iso(day: dt.date) -> str:
    return day.isoformat()


def save(page, name: str = "Save") -> None:
    page.get_by_role("button", name=name, exact=True).click()
    page.wait_for_load_state()


def expect_message(page, text: str) -> None:
    expect(page.locator(".messages")).to_contain_text(text)


def correct(page, section: str, changes: dict[str, str], reason: str, *, shot: str | None = None) -> None:
    """Open 'Correct' of a record on the patient page, change values, review old → new, save with a reason."""
    page.locator(section).get_by_role("link", name="Correct").first.click()
    fill(page, changes)
    page.locator("#id_reason").fill(reason)
    save(page, "Review changes")
    expect(page.locator("#changes")).to_be_visible()
    if shot:
        shots(page, shot)
    save(page, "Save correction")
    expect_message(page, "corrected")


def void(page, section: str, reason: str, *, shot: str | None = None) -> None:
    page.locator(section).get_by_role("link", name="Void").first.click()
    expect(page.locator("#record-summary")).to_be_visible()
    save(page, page.locator("button.danger").inner_text())  # "Void <record>" is the only destructive button
    expect(page.locator("#field-reason .field-error")).to_contain_text("required")
    page.locator("#id_reason").fill(reason)
    if shot:
        shots(page, shot)
    save(page, page.locator("button.danger").inner_text())
    expect_message(page, "voided")


def test_coordinator_journey_without_the_api(page, live_server, coordinator, site, today):
    T = today
    base = live_server.url
    log_in(page, base, coordinator.username)
    page.set_viewport_size(DESKTOP)

    # Enroll: eligibility is checked first, then the patient is enrolled.
    page.goto(f"{base}/patients/enroll/")
    fill(
        page,
        {
            "birth_year": "1958",
            "sex": "F",
            "histology": "breast",
            "ecog": "1",
            "consent_date": iso(T - dt.timedelta(days=40)),
            "enrollment_date": iso(T - dt.timedelta(days=38)),
            "day0": iso(T - dt.timedelta(days=35)),
            "screening_worst_pain": "8",
            "life_expectancy_over_3_months": True,
            "lesion-region": "spine",
            "lesion-spine_level": "L1",
            "lesion-lesion_type": "lytic",
            "lesion-sins_pain": "mechanical",
            "lesion-sins_alignment": "normal",
            "lesion-sins_collapse": "none",
            "lesion-sins_posterolateral": "none",
            "lesion-bilsky_grade": "1a",
        },
    )
    save(page, "Check eligibility")
    expect(page.locator("#eligibility")).to_contain_text("All criteria are met")
    save(page, "Enroll patient")
    patient = Patient.objects.get()
    sid = patient.study_id
    expect(page.get_by_role("heading", name=sid)).to_be_visible()

    # Index procedure (its date becomes day 0).
    page.get_by_role("link", name="Record index procedure").click()
    fill(
        page,
        {
            "procedure_date": iso(T - dt.timedelta(days=33)),
            "modality": "RFA",
            "probes": "2",
            "anesthesia": "general",
            "augmentation": "cement",
            "cement_technique": "vertebroplasty",
            "cement_volume_ml": "3.5",
            "cement_leakage": "false",
        },
    )
    shots(page, "procedure_form")
    save(page)
    expect_message(page, "Index procedure recorded")
    patient.refresh_from_db()
    assert patient.day0 == T - dt.timedelta(days=33)

    # Radiation course after the ablation; an extra (non-index) lesion.
    page.get_by_role("link", name="Add radiation course").click()
    fill(
        page,
        {
            "sequence": "after",
            "start_date": iso(T - dt.timedelta(days=30)),
            "end_date": iso(T - dt.timedelta(days=26)),
            "total_dose_gy": "20",
            "fractions": "5",
            "technique": "sbrt",
        },
    )
    save(page)
    expect_message(page, "Radiation course recorded")
    page.get_by_role("link", name="Add lesion").click()
    fill(page, {"region": "pelvis", "bone": "ilium", "laterality": "left", "lesion_type": "lytic"})
    save(page)
    expect_message(page, "Lesion recorded")

    # Baseline: today is outside its window, so the date is not pre-filled; save and go to the next visit.
    page.locator('#visits tr[data-visit="baseline"]').get_by_role("link", name="Enter").click()
    expect(page.locator("#id_visit_date")).to_have_value("")
    fill(
        page,
        {
            "visit_date": iso(T - dt.timedelta(days=34)),
            "worst": "7",
            "least": "3",
            "average": "5",
            "current": "6",
            "general_activity": "6",
            "mood": "5",
            "walking_ability": "7",
            "sleep": "6",
        },
    )
    page.get_by_label("Taking opioids").check()
    page.get_by_role("button", name="Add opioid").click()
    fill(page, {"med-0-drug": "oxycodone", "med-0-dose": "10", "med-0-doses_per_day": "3"})
    expect(page.locator("tr.med-row .row-factor").first).to_have_text("× 1.5 (CDC 2022)")
    page.get_by_role("button", name="Save and enter Day 3").click()
    expect(page.get_by_role("heading", name=f"Day 3 visit · {sid}")).to_be_visible()
    baseline = Visit.objects.get(patient=patient, visit_code="baseline")
    assert baseline.visit_date == T - dt.timedelta(days=34) and baseline.omed() == 45

    # Day 3 did not take place: recorded as not done with a reason (not missed).
    page.locator("#not-done summary").click()
    page.locator("#id_not_done_reason").fill("Patient stayed in hospital after the procedure")
    page.locator("#id_visit_date").fill("")
    save(page, "Save visit")
    expect(page.locator('#visits tr[data-visit="day3"]')).to_contain_text("Not done")
    assert Visit.objects.get(patient=patient, visit_code="day3").not_done_reason.startswith("Patient stayed")

    # Month 1: today is in the window (pre-filled); an early date is warned about and refused without confirmation.
    page.goto(f"{base}/patients/{sid}/visits/month1/")
    expect(page.locator("#id_visit_date")).to_have_value(iso(T))
    fill(
        page,
        {
            "visit_date": iso(T - dt.timedelta(days=20)),
            "worst": "4",
            "least": "1",
            "average": "3",
            "current": "2",
            "general_activity": "3",
            "mood": "3",
            "walking_ability": "4",
            "sleep": "2",
            "relations__missing": "ASKU",
        },
    )
    expect(page.locator("#window-warning")).to_be_visible()
    page.get_by_label("Taking opioids").check()
    page.get_by_role("button", name="Add opioid").click()
    fill(page, {"med-0-drug": "fentanyl", "med-0-dose": "25"})
    expect(page.locator("#id_med-0-unit")).to_have_value("mcg/h")  # the unit follows the drug
    page.get_by_role("button", name="Add opioid").click()
    fill(
        page,
        {
            "med-1-drug": "buprenorphine",
            "med-1-route": "other",
            "med-1-dose": "0.4",
            "med-1-unit": "mg",
            "med-1-doses_per_day": "2",
        },
    )
    expect(page.locator("tr.med-row .row-guidance").nth(1)).to_contain_text("partial agonist")
    save(page, "Save visit")
    expect(page.locator("#field-visit_date .field-error")).to_contain_text("outside the Month 1 window")
    expect(page.locator("#id_med-1-drug_error")).to_contain_text("Explicit MME factor")
    shots(page, "visit_errors")
    fill(page, {"visit_date": iso(T), "med-1-mme_factor": "30", "med-1-factor_source": "Institutional table 2025"})
    save(page, "Save visit")
    expect_message(page, "Month 1 saved")
    month1 = Visit.objects.get(patient=patient, visit_code="month1")
    assert month1.visit_date == T and month1.omed() == 60 + 24  # 25 mcg/h × 2.4 + 0.8 mg/day × 30
    assert month1.missing_codes == {"relations": "ASKU"}

    # Adverse event and skeletal-related event.
    page.get_by_role("link", name="Add adverse event").click()
    fill(
        page,
        {
            "term": "Post-procedural pain",
            "onset_date": iso(T - dt.timedelta(days=30)),
            "sir_grade": "mild",
            "ctcae_grade": "1",
            "relatedness": "procedure",
            "outcome": "recovered",
            "resolution_date": iso(T - dt.timedelta(days=25)),
        },
    )
    save(page)
    page.get_by_role("link", name="Add skeletal-related event").click()
    fill(page, {"event_type": "pathologic_fracture", "event_date": iso(T - dt.timedelta(days=10)), "location": "L2"})
    save(page)
    expect_message(page, "Skeletal-related event recorded")
    shots(page, "patient_page")

    # Correct each record type with a reason (old → new reviewed first).
    correct(page, '[data-record="procedure"]', {"probes": "3"}, "Op note: three probes", shot="correct_review")
    assert Procedure.objects.get(patient=patient).probes == 3
    correct(page, '[data-record="radiation"]', {"fractions": "4"}, "RT summary: 20 Gy in 4 fractions")
    assert RadiationCourse.objects.get(patient=patient).fractions == 4
    correct(page, "#lesions tr.lesion-extra", {"size_mm": "25"}, "CT report measured 25 mm")
    assert Lesion.objects.get(patient=patient, is_index=False).size_mm == 25
    correct(page, "#adverse-events", {"ctcae_grade": "2", "sir_grade": "moderate"}, "Needed opioid escalation: grade 2")
    assert AdverseEvent.objects.get(patient=patient).ctcae_grade == 2
    correct(page, "#skeletal-events", {"location": "L3"}, "Radiology: fracture at L3")
    assert SkeletalEvent.objects.get(patient=patient).location == "L3"
    page.locator('#visits tr[data-visit="month1"]').get_by_role("link", name="Correct").click()
    fill(page, {"worst": "5", "reason": "Patient diary: worst pain 5"})
    save(page, "Save visit")
    expect_message(page, "Month 1 saved")
    assert Visit.objects.get(pk=month1.pk).pain.worst == 5

    # Study exit: lost to follow-up, corrected, then voided (the patient was found again).
    page.get_by_role("link", name="Record study exit or death").click()
    fill(page, {"exit_type": "lost_to_follow_up", "exit_date": iso(T), "last_contact_date": iso(T - dt.timedelta(days=1))})
    save(page)
    correct(
        page, '[data-record="exit"]', {"last_contact_date": iso(T - dt.timedelta(days=2))}, "Phone log: last contact 2 days ago"
    )
    assert StudyExit.objects.get(patient=patient).last_contact_date == T - dt.timedelta(days=2)
    void(page, '[data-record="exit"]', "Patient called back: not lost to follow-up")

    # Void each record type with a reason.
    void(page, "#adverse-events", "Duplicate of another report", shot="void")
    void(page, "#skeletal-events", "Fracture was pre-existing at enrollment")
    void(page, "#lesions tr.lesion-extra", "Lesion belongs to another patient")
    void(page, '[data-record="radiation"]', "Course was never delivered")
    void(page, '#visits tr[data-visit="baseline"]', "Baseline entered on the wrong patient")
    void(page, '[data-record="procedure"]', "Procedure entered twice; recorded again below")
    for model in (AdverseEvent, SkeletalEvent, RadiationCourse, Procedure):
        assert model.objects.get(patient=patient).is_voided
    assert Lesion.objects.get(patient=patient, is_index=False).is_voided
    assert Visit.objects.get(pk=baseline.pk).visit_date is None

    # Death.
    page.get_by_role("link", name="Record study exit or death").click()
    fill(page, {"exit_type": "death", "exit_date": iso(T), "death_cause": "Disease progression"})
    save(page)
    expect(page.get_by_role("heading", name=sid)).to_contain_text("Exited: Death")
    death = StudyExit.objects.active().get(patient=patient)
    assert (death.exit_type, death.last_contact_date) == ("death", T)
    shots(page, "after_death")
