"""The read-only visit page (issue 11 item 4): every value, history, open queries, signing and its invalidation;
roles without data entry see no entry buttons and a styled 403; field queries; locks shown and 'Correct' hidden."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from lxml import html

from tests.data_management.conftest import PASSWORD
from tests.factories import make_user, visit_data
from trials import services
from trials.models import DataQuery, Role, Signature
from trials.services.data_queries import data_query_open
from trials.services.locking import patient_lock

pytestmark = pytest.mark.django_db

OXY = {"drug": "oxycodone", "route": "oral", "dose": "10", "unit": "mg", "doses_per_day": "2"}  # 30 MME/day (CDC)


@pytest.fixture
def site_investigator(site):
    user = make_user("si_atl", Role.SITE_INVESTIGATOR, site)
    user.first_name, user.last_name = "Ada", "Okafor"
    user.save()
    return user


@pytest.fixture
def month1(coordinator, patient):
    visit = patient.visits.get(visit_code="month1")
    data = visit_data(patient.day0 + dt.timedelta(days=30), worst=6, meds=[OXY])
    data.pain.update({"general_activity": 5, "mood": 4, "walking_ability": 7, "sleep": 3, "relief_pct": 40})
    return services.visit_record(actor=coordinator, visit=visit, data=data)


def _url(visit, name="visit_detail"):
    return reverse(name, args=[visit.patient.study_id, visit.visit_code])


def _page(client, user, url):
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_investigator_sees_every_value_with_labels_and_no_entry_buttons(client, investigator, month1):
    page = _page(client, investigator, _url(month1))
    doc = html.fromstring(page)
    bpi = {
        th.text_content().strip(): td.text_content().split()[0]
        for th, td in ((tr.find("th"), tr.find("td")) for tr in doc.xpath('//table[@id="bpi-values"]//tr[td]'))
    }
    assert bpi["Worst pain in the last 24 hours"] == "6" and bpi["Least pain in the last 24 hours"] == "1"
    assert bpi["Walking ability"] == "7" and bpi["Relations with other people"] == "—"
    assert bpi["Relief from treatment (%)"] == "40"
    assert doc.get_element_by_id("interference").text_content() == "4.75"  # (5+4+7+3)/4, 4 of 7 answered
    opioid = doc.xpath('//table[@id="opioids"]/tbody/tr')[0].text_content()
    assert "Oxycodone" in opioid and "10 mg" in opioid and "30" in opioid
    assert "30 MME/day" in doc.get_element_by_id("omed").text_content()
    assert "Enter visit" not in page and "Correct visit" not in page and 'id="sign-form"' not in page
    assert "Open query" not in page  # investigators do not open queries
    patient_page = _page(client, investigator, reverse("patient_detail", args=[month1.patient.study_id]))
    row = html.fromstring(patient_page).xpath('//tr[@data-visit="month1"]')[0].text_content()
    assert "View" in row and "Correct" not in row and "Enter" not in row


def test_a_role_without_data_entry_gets_a_styled_403_with_navigation(client, investigator, month1):
    client.force_login(investigator)
    response = client.get(_url(month1, "visit_entry"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "You do not have access to this page" in page and "not enter data for this site" in page
    assert 'nav aria-label="Main"' in page and reverse("patient_list") in page


def test_custom_404_page(client, coordinator):
    client.force_login(coordinator)
    response = client.get(reverse("patient_detail", args=["ATL-999"]))
    assert response.status_code == 404 and "Page not found" in response.content.decode()


def test_site_investigator_signs_from_the_visit_page_and_an_edit_invalidates_it(client, site_investigator, coordinator, month1):
    url = _url(month1)
    page = _page(client, site_investigator, url)
    assert 'id="sign-form"' in page and "Approval — I approve the data" in page
    refused = client.post(url, {"meaning": "approval", "password": "wrong"})
    assert refused.status_code == 200 and "password is not correct" in refused.content.decode()
    free_text = client.post(url, {"meaning": "Looks fine", "password": PASSWORD})
    assert free_text.status_code == 200 and not Signature.objects.exists()
    assert client.post(url, {"meaning": "approval", "password": PASSWORD}).status_code == 302
    signed = html.fromstring(client.get(url).content.decode())
    manifest = signed.xpath('//ul[@id="signatures"]/li')[0].text_content()
    signature = Signature.objects.get()
    local = signature.signed_at.astimezone(dt.UTC)
    assert "Ada Okafor" in manifest and f"{local:%-d %b %Y %H:%M} UTC" in manifest and "Approval" in manifest
    assert signed.get_element_by_id("signed-chip").text_content() == "Signed"
    timeline = _page(client, site_investigator, reverse("patient_detail", args=[month1.patient.study_id]))
    assert "Signed" in html.fromstring(timeline).xpath('//tr[@data-visit="month1"]')[0].text_content()

    data = visit_data(month1.visit_date, worst=5, meds=[OXY])
    services.visit_record(actor=coordinator, visit=month1, data=data, reason="Transcription error")
    after = _page(client, site_investigator, url)
    doc = html.fromstring(after)
    assert doc.get_element_by_id("signed-chip").text_content() == "Signature invalidated"
    assert "Signature needed again" in after and "Sign again" in after
    assert "Invalidated" in doc.xpath('//ul[@id="signatures"]/li')[0].text_content()
    history = doc.get_element_by_id("audit").text_content()
    assert "Signature of Ada Okafor" in history and "Invalidated: the visit was changed" in history
    assert "Worst pain in the last 24 hours" in history and "no field changes" not in history
    timeline = _page(client, site_investigator, reverse("patient_detail", args=[month1.patient.study_id]))
    assert "Signature invalidated" in html.fromstring(timeline).xpath('//tr[@data-visit="month1"]')[0].text_content()


def test_only_the_sites_investigator_may_post_a_signature(client, coordinator, month1):
    client.force_login(coordinator)
    assert client.post(_url(month1), {"meaning": "review", "password": PASSWORD}).status_code == 403
    assert not Signature.objects.exists()


def test_data_manager_opens_a_query_on_a_field_and_the_marker_shows(client, data_manager, coordinator, month1):
    page = _page(client, data_manager, _url(month1))
    link = html.fromstring(page).xpath('//td[@data-field="painassessment.worst"]//a[contains(@class, "query-link")]')[0]
    form_page = _page(client, data_manager, link.get("href"))
    assert "Brief Pain Inventory: Worst pain in the last 24 hours" in form_page
    empty = client.post(
        reverse("dm_query_new"), {"record": "painassessment", "id": month1.pain.pk, "field": "worst", "message": ""}
    )
    assert empty.status_code == 200 and not DataQuery.objects.exists()
    response = client.post(
        reverse("dm_query_new"), {"record": "painassessment", "id": month1.pain.pk, "field": "worst", "message": "Source says 5?"}
    )
    assert response.status_code == 302 and response.url == _url(month1)
    query = DataQuery.objects.get()
    assert (query.field_name, query.record) == ("worst", month1.pain)
    coordinator_page = html.fromstring(_page(client, coordinator, _url(month1)))
    cell = coordinator_page.xpath('//td[@data-field="painassessment.worst"]')[0]
    assert (
        "Query open" in cell.text_content()
        and "Source says 5?" in coordinator_page.get_element_by_id("visit-queries").text_content()
    )
    client.force_login(coordinator)
    assert client.get(link.get("href")).status_code == 403  # coordinators answer queries, they do not open them


def test_a_locked_patient_shows_the_lock_and_no_correct_links(client, data_manager, coordinator, month1):
    data_query_open(actor=data_manager, record=month1, field_name="visit_date", message="Confirm")
    patient_lock(actor=data_manager, patient=month1.patient, reason="Interim cut-off")
    patient_page = _page(client, coordinator, reverse("patient_detail", args=[month1.patient.study_id]))
    assert "Interim cut-off" in html.fromstring(patient_page).get_element_by_id("lock-banner").text_content()
    assert ">Correct<" not in patient_page and "Add adverse event" not in patient_page
    visit_page = _page(client, coordinator, _url(month1))
    assert "lock-banner" in visit_page and "Correct visit" not in visit_page
