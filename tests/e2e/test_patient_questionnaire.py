"""A patient answers the questionnaire from the link on a phone (360 px), in English and in Spanish; leaves half-way,
resumes with the same link, reviews and submits. axe-core finds no violation on any step. The coordinator then
sees the values with source "patient" and reviews the opioid answers (issue 15)."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from pro import tokens
from tests.e2e.conftest import log_in, screenshot
from tests.pro_patient.conftest import (  # noqa: F401 - fixtures shared with the page tests
    fresh_throttle,
    home_patient,
    invitation,
    shipped_instruments,
    spanish_instruments,
    week1_visit,
)
from trials.models import AnswerSource, PainAssessment, Visit

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=30_000)  # a loaded CI machine: pages may take seconds to arrive

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
AXE = Axe()
LABELS = {
    "en": {
        "start": "Start",
        "continue": "Continue where you left off",
        "next": "Save and continue",
        "later": "Save and finish later",
        "send": "Send my answers",
        "thanks": "Thank you",
        "yes": "Yes, I take opioid pain medicine",
        "drug": "Oxycodone",
        "review": "Check your answers",
    },
    "es": {
        "start": "Empezar",
        "continue": "Continuar donde lo dejó",
        "next": "Guardar y continuar",
        "later": "Guardar y terminar más tarde",
        "send": "Enviar mis respuestas",
        "thanks": "Gracias",
        "yes": "Sí, tomo medicamentos opioides para el dolor",
        "drug": "Oxicodona",
        "review": "Revise sus respuestas",
    },
}


def no_violations(page, where: str) -> None:
    results = AXE.run(page)
    assert results.violations_count == 0, f"{where}:\n{results.generate_report()}"


def phone(browser, language: str):
    context = browser.new_context(viewport=PHONE, locale="es-ES" if language == "es" else "en-US", is_mobile=True, has_touch=True)
    context.set_default_timeout(60_000)  # a loaded CI machine: the live server may answer slowly
    return context, context.new_page()


def choose(page, question: str, value: str) -> None:
    """Pick an answer of a 0–10 / 0–100% question by its visible number, the way a finger would."""
    page.get_by_role("group", name=question).get_by_label(value, exact=True).check()


def run_questionnaire(browser, url: str, language: str, labels: dict, shots: str) -> None:
    context, page = phone(browser, language)
    page.goto(url + ("?lang=es" if language == "es" else ""))
    expect(page.locator("html")).to_have_attribute("lang", language)
    no_violations(page, "start")
    screenshot(page, f"{shots}-1-start-360")
    page.get_by_role("link", name=labels["start"]).click()

    # Step 1: intensity — answered by keyboard for the first question (Tab to the group, arrows move the choice).
    questions = page.locator("fieldset.pro-scale legend")
    expect(questions).to_have_count(4)
    first = page.locator("fieldset.pro-scale").first.locator("input[type=radio]").first
    first.focus()
    for _ in range(6):
        page.keyboard.press("ArrowRight")
    expect(page.locator("fieldset.pro-scale").first.locator("input:checked")).to_have_value("6")
    for index, value in ((1, "2"), (2, "4"), (3, "3")):
        page.locator("fieldset.pro-scale").nth(index).get_by_label(value, exact=True).check()
    no_violations(page, "intensity")
    screenshot(page, f"{shots}-2-intensity-360")
    page.get_by_role("button", name=labels["next"]).click()
    page.wait_for_url(re.compile(r"/step/1/$"))

    # Step 2: relief; then leave half-way.
    page.locator("fieldset.pro-scale").first.get_by_label("40%", exact=True).check()
    no_violations(page, "relief")
    page.get_by_role("button", name=labels["later"]).click()
    expect(page.locator(".pro-note")).to_be_visible()
    no_violations(page, "saved")
    context.close()

    # Resume later from the same link in a new browser session: continues at the interference step.
    context, page = phone(browser, language)
    page.goto(url + ("?lang=es" if language == "es" else ""))
    page.get_by_role("link", name=labels["continue"]).click()
    groups = page.locator("fieldset.pro-scale")
    expect(groups).to_have_count(7)
    for index in range(7):
        groups.nth(index).get_by_label(str(3 + index % 3), exact=True).check()
    no_violations(page, "interference")
    screenshot(page, f"{shots}-3-interference-360")
    page.get_by_role("button", name=labels["next"]).click()

    # Opioids: yes, one medicine.
    page.get_by_label(labels["yes"]).check()
    no_violations(page, "opioid question")
    page.get_by_role("button", name=labels["next"]).click()
    page.get_by_label(labels["drug"]).check()
    page.locator("input[name=strength__0]").fill("10")
    page.get_by_label("mg (", exact=False).first.check()
    page.locator("input[name=doses_per_day__0]").fill("2")
    no_violations(page, "medicines")
    screenshot(page, f"{shots}-4-medicines-360")
    page.get_by_role("button", name=labels["next"]).click()

    expect(page.get_by_role("heading", name=labels["review"], exact=True)).to_be_visible()
    no_violations(page, "review")
    screenshot(page, f"{shots}-5-review-360")
    page.get_by_role("button", name=labels["send"]).click()
    expect(page.get_by_role("heading", name=labels["thanks"])).to_be_visible()
    expect(page.locator("form")).to_have_count(0)  # read-only after submission
    no_violations(page, "thank-you")
    screenshot(page, f"{shots}-6-thanks-360")
    context.close()


def check_record(visit: Visit) -> None:
    pain = PainAssessment.objects.get(visit=visit)
    assert (pain.worst, pain.least, pain.average, pain.current, pain.relief_pct) == (6, 2, 4, 3, 40)
    assert pain.source == AnswerSource.PATIENT and pain.submitted_at is not None
    visit.refresh_from_db()
    assert visit.opioid_source == AnswerSource.PATIENT and visit.opioid_review_pending


def test_patient_completes_the_bpi_in_english_on_a_phone_and_the_coordinator_reviews(
    browser,
    page,
    live_server,
    coordinator,
    invitation,  # noqa: F811 - the fixture imported above
    week1_visit,  # noqa: F811
):
    url = f"{live_server.url}/q/{tokens.issue(invitation)}/"
    run_questionnaire(browser, url, "en", LABELS["en"], "patient-en")
    check_record(week1_visit)

    page.set_viewport_size(DESKTOP)
    log_in(page, live_server.url, coordinator.username)
    page.goto(f"{live_server.url}/patients/{week1_visit.patient.study_id}/visits/week1/view/")
    expect(page.locator("#bpi-source")).to_contain_text("Patient (submitted by the patient")
    expect(page.locator("#opioid-review")).to_contain_text("Review needed")
    screenshot(page, "coordinator-patient-source-desktop")
    page.get_by_role("button", name="Confirm the opioid answers as reviewed").click()
    expect(page.locator("#opioid-review")).to_have_count(0)
    expect(page.locator("#opioid-source")).to_contain_text("reviewed by")
    week1_visit.refresh_from_db()
    assert not week1_visit.opioid_review_pending and week1_visit.opioid_reviewed_by == coordinator


def test_patient_completes_the_bpi_in_spanish(
    browser,
    page,
    live_server,
    invitation,  # noqa: F811 - the fixtures imported above
    week1_visit,  # noqa: F811
    spanish_instruments,  # noqa: F811
):
    url = f"{live_server.url}/q/{tokens.issue(invitation)}/"
    run_questionnaire(browser, url, "es", LABELS["es"], "patient-es")
    check_record(week1_visit)
    # The same page at desktop width, read-only after submission in the browser that sent it is not available to
    # a new browser: the neutral page, which must be accessible too.
    page.set_viewport_size(DESKTOP)
    page.goto(url)
    expect(page.get_by_role("heading", name="This link cannot be used")).to_be_visible()
    no_violations(page, "neutral page")
    screenshot(page, "patient-neutral-desktop")
