"""The patient's questionnaire page by link (issue 15 §4): steps, drafts and resume, review, submission into the
record with source "patient", English and Spanish, and the security rules (neutral refusals, throttling)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pro import tokens
from pro.models import EventKind, Invitation, InvitationStatus, QuestionnaireResponse
from pro.services import invitation_for_visit
from tests.factories import enroll_patient
from trials.models import AnswerSource, DataQuery, PainAssessment, Patient, Visit
from trials.services.patient_reports import RULE_PATIENT_REPORT_DIFFERS

pytestmark = pytest.mark.django_db

INTENSITY = {"worst": "7", "least": "2", "average": "5", "current": "4"}
INTERFERENCE = {"general_activity": "6", "mood": "5", "walking_ability": "7", "normal_work": "6", "relations": "3", "sleep": "4"}


def start(link: str) -> str:
    return reverse("pro_patient_start", args=[link])


def step_url(link: str, index: int) -> str:
    return reverse("pro_patient_step", args=[link, index])


def answer_all(client: Client, link: str, *, opioids: dict | None = None) -> None:
    """Intensity, relief, interference, the opioid question (and medicines) — then the review page."""
    posts = [
        {**INTENSITY, "action": "next"},
        {"relief_pct": "30", "action": "next"},
        {**INTERFERENCE, "action": "next"},
        {"opioid_use": "taking" if opioids else "none", "action": "next"},
    ]
    url = step_url(link, 0)
    for data in posts:
        response = client.post(url, data)
        assert response.status_code == 302, response.content.decode()[:500]
        url = response["Location"]
    if opioids:
        response = client.post(url, {**{f"{k}__0": v for k, v in opioids.items()}, "action": "next"})
        assert response.status_code == 302
        url = response["Location"]
    assert url == reverse("pro_patient_review", args=[link])


def test_the_page_names_study_site_and_visit_and_nothing_else_about_the_patient(client, link, home_patient):
    page = client.get(start(link)).content.decode()
    assert "TRIBUTE bone metastasis ablation registry" in page and home_patient.site.name in page and "Week 1" in page
    for identifier in (home_patient.study_id, str(home_patient.birth_year), home_patient.get_sex_display()):
        assert identifier not in page
    assert 'lang="en"' in page


def test_a_patient_answers_step_by_step_leaves_and_resumes(client, link, invitation, week1_visit):
    assert client.get(step_url(link, 0)).status_code == 200
    response = client.post(step_url(link, 0), {**INTENSITY, "action": "later"})
    assert response.status_code == 302 and response["Location"].endswith("?saved=1")
    draft = QuestionnaireResponse.objects.get(invitation=invitation, instrument__code="bpi_sf")
    assert draft.status == "draft" and draft.answers["worst"] == 7
    # A new browser (the link from the e-mail again): the start page offers to continue at the next unanswered step.
    other = Client()
    page = other.get(start(link)).content.decode()
    assert "Continue where you left off" in page and step_url(link, 1) in page
    assert 'value="7" checked' in other.get(step_url(link, 0)).content.decode()  # the saved answer is shown again
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.OPENED and invitation.events.filter(kind=EventKind.OPENED).count() == 1


def test_review_submit_fills_the_visit_with_source_patient_and_the_page_becomes_read_only(client, link, invitation, week1_visit):
    answer_all(client, link, opioids={"drug": "oxycodone", "strength": "10", "unit": "mg", "doses_per_day": "2"})
    review = client.get(reverse("pro_patient_review", args=[link])).content.decode()
    assert "Check your answers" in review and "Oxycodone" in review and "30%" in review
    response = client.post(reverse("pro_patient_review", args=[link]))
    assert response["Location"] == reverse("pro_patient_done", args=[link])
    done = client.get(response["Location"]).content.decode()
    assert "Thank you" in done and "<form" not in done and "Change" not in done
    visit, pain = Visit.objects.get(pk=week1_visit.pk), PainAssessment.objects.get(visit=week1_visit)
    assert (pain.worst, pain.least, pain.relief_pct, pain.enjoyment_of_life, pain.source) == (
        7,
        2,
        30,
        None,
        AnswerSource.PATIENT,
    )
    assert pain.submitted_at is not None and visit.opioid_source == AnswerSource.PATIENT and visit.opioid_review_pending
    assert visit.omed() == Decimal("30.00")
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.SUBMITTED and invitation.reminders_stopped_at is not None
    # The used link: the browser that sent it sees the read-only page; anyone else gets the neutral page.
    assert client.get(start(link)).status_code == 302
    assert Client().get(start(link)).status_code == 404


def test_staff_values_are_kept_and_differences_become_queries(client, link, week1_visit, coordinator, today):
    from tests.factories import visit_data
    from trials import services

    services.visit_record(actor=coordinator, visit=week1_visit, data=visit_data(today, worst=3))
    answer_all(client, link)
    client.post(reverse("pro_patient_review", args=[link]))
    assert PainAssessment.objects.get(visit=week1_visit).worst == 3
    queried = set(DataQuery.objects.filter(rule_code=RULE_PATIENT_REPORT_DIFFERS).values_list("field_name", flat=True))
    assert {"worst", "least", "average", "current"} <= queried


def test_an_opioid_the_table_does_not_know_becomes_a_query_not_a_guess(client, link, week1_visit):
    answer_all(client, link, opioids={"drug": "other", "strength": "5", "unit": "mg", "doses_per_day": "1"})
    client.post(reverse("pro_patient_review", args=[link]))
    visit = Visit.objects.get(pk=week1_visit.pk)
    assert visit.opioid_status == "unknown" and visit.omed() is None
    query = DataQuery.objects.get(rule_code=RULE_PATIENT_REPORT_DIFFERS, field_name="opioid_status")
    assert "other 5 mg" in query.message


def test_an_answer_outside_the_scale_is_refused_beside_its_question(client, link):
    response = client.post(step_url(link, 0), {**INTENSITY, "worst": "11", "action": "next"})
    page = response.content.decode()
    assert response.status_code == 400 and 'aria-invalid="true"' not in page  # radio scale: error on the fieldset
    assert "Choose one of the answers." in page and 'href="#worst-first"' in page
    medicine_step = step_url(link, 4)
    client.post(step_url(link, 3), {"opioid_use": "taking", "action": "next"})
    response = client.post(medicine_step, {"drug__0": "morphine", "strength__0": "abc", "unit__0": "mg", "action": "next"})
    page = response.content.decode()
    assert response.status_code == 400 and "Enter a number, for example 10 or 2.5." in page
    assert "Answer this question, or clear the whole row." in page  # doses per day missing


def test_spanish_labels_and_instrument_text_from_the_loaded_translation(client, link, spanish_instruments):
    page = client.get(start(link) + "?lang=es").content.decode()
    assert 'lang="es"' in page and "Su cuestionario" in page and "Semana 1" in page and "Empezar" in page
    assert client.cookies["django_language"].value == "es"
    step = client.get(step_url(link, 0)).content.decode()  # the cookie keeps the language
    assert "Guardar y continuar" in step and "Intensidad del dolor" in step and "Sin dolor" in step
    assert "Please rate your pain" not in step


def test_spanish_page_without_a_loaded_translation_shows_the_validated_english_questions(client, link):
    step = client.get(step_url(link, 0) + "?lang=es").content.decode()
    assert "Guardar y continuar" in step and "Please rate your pain" in step  # never an invented translation


# --- security -------------------------------------------------------------------------------------------------------


def test_expired_used_tampered_and_other_visit_links_get_the_same_neutral_page(
    client, invitation, week1_visit, home_patient, settings
):
    settings.PRO_LINK_FAILURE_LIMIT = 100  # this test presents 21 refused links on purpose
    valid = tokens.issue(invitation)
    tampered = valid[:-1] + ("A" if valid[-1] != "A" else "B")
    # Another visit of the same patient whose window has closed (day 3): its link was issued while it was open.
    day3 = invitation_for_visit(Visit.objects.get(patient=home_patient, visit_code="day3"))
    day3_link = tokens.issue(day3) if day3.is_open else None
    type(day3).objects.filter(pk=day3.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    # A used link: a questionnaire another browser submitted.
    used_invitation = invitation_for_visit(Visit.objects.get(patient=home_patient, visit_code="month1"))
    used = tokens.issue(used_invitation)
    type(used_invitation).objects.filter(pk=used_invitation.pk).update(status=InvitationStatus.SUBMITTED)
    # An expired link: the week-1 window closed.
    expired_invitation = invitation_for_visit(Visit.objects.get(patient=home_patient, visit_code="month3"))
    expired = tokens.issue(expired_invitation)
    type(expired_invitation).objects.filter(pk=expired_invitation.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    bodies = set()
    for bad in [tampered, used, expired, day3_link, "x" * 43, "short", "%00"]:
        if bad is None:
            continue
        for url in (start(bad), step_url(bad, 0), reverse("pro_patient_review", args=[bad])):
            response = client.get(url)
            assert response.status_code == 404, (bad, url)
            bodies.add(response.content)
    assert len(bodies) == 1  # one neutral page, byte for byte
    assert "This link cannot be used" in bodies.pop().decode()
    assert client.get(start(valid)).status_code == 200


def test_links_of_a_voided_visit_or_patient_get_the_neutral_page_of_a_stopped_invitation(
    client, invitation, week1_visit, home_patient, coordinator, site, today
):
    """Voiding stops the invitation (pro.signals, the job's stop rule); the link refuses even before that."""
    stopped_invitation = invitation_for_visit(Visit.objects.get(patient=home_patient, visit_code="month1"))
    stopped = tokens.issue(stopped_invitation)
    type(stopped_invitation).objects.filter(pk=stopped_invitation.pk).update(status=InvitationStatus.STOPPED)
    of_voided_visit = tokens.issue(invitation)
    assert client.get(start(of_voided_visit)).status_code == 200
    other = enroll_patient(coordinator, site, enrollment_date=today - dt.timedelta(days=11), day0=today - dt.timedelta(days=6))
    of_voided_patient = tokens.issue(invitation_for_visit(Visit.objects.get(patient=other, visit_code="week1")))
    assert client.get(start(of_voided_patient)).status_code == 200
    # voided without the signals' stop (a bulk correction): the invitations are still open
    Visit.objects.filter(pk=week1_visit.pk).update(voided_at=timezone.now())
    Patient.objects.filter(pk=other.pk).update(voided_at=timezone.now())
    assert Invitation.objects.get(pk=invitation.pk).is_open
    bodies = set()
    for link in (stopped, of_voided_visit, of_voided_patient):
        for url in (start(link), step_url(link, 0), reverse("pro_patient_review", args=[link])):
            response = client.get(url)
            assert response.status_code == 404, (link, url)
            bodies.add(response.content)
    assert len(bodies) == 1 and "This link cannot be used" in bodies.pop().decode()


def test_a_thousand_guesses_are_throttled_and_then_even_a_valid_link_waits(client, link, settings):
    settings.PRO_LINK_FAILURE_LIMIT = 20
    statuses = [client.get(start(f"{i:043d}")).status_code for i in range(1000)]
    assert statuses.count(404) == 20 and statuses.count(429) == 980
    throttled = client.get(start(link))
    assert throttled.status_code == 429 and throttled["Retry-After"] == "900"
    assert Client(REMOTE_ADDR="203.0.113.9").get(start(link)).status_code == 200  # another address is not affected


def test_the_link_is_never_sent_to_another_site_as_a_referrer_and_pages_are_not_cached(client, link):
    response = client.get(start(link))
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
