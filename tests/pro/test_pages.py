"""Coordinator pages of issue 15: contact, send now / resend, QR code, the invitation log (page + CSV), compliance
by site × visit, and overdue questionnaires on the worklist."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core import mail

from pro import sending, tokens
from pro.models import EventKind, Invitation, InvitationEvent, InvitationStatus
from pro.selectors import compliance
from pro.services import record_open, record_submission, set_contact
from tests.factories import enroll_patient


@pytest.fixture
def due_patient(coordinator, site, today):
    """Day 0 six days ago: week 1 (window days 5–10, target day 7) is due today."""
    return enroll_patient(coordinator, site, enrollment_date=today - dt.timedelta(days=7), day0=today - dt.timedelta(days=6))


@pytest.mark.django_db
def test_contact_form_send_now_resend_and_qr_code(client, coordinator, due_patient):
    client.force_login(coordinator)
    url = f"/patients/{due_patient.study_id}/questionnaires/"
    bad = client.post(url, {"email": "not-an-address", "preferred_language": "en", "consented": "on"})
    assert bad.status_code == 200 and "Enter a valid email address" in bad.content.decode()
    response = client.post(url, {"email": "pat@example.org", "phone": "", "preferred_language": "es", "consented": "on"})
    assert response.status_code == 302
    page = client.get(url).content.decode()
    assert "pat@example.org" in page and "Send now" in page
    send = f"/patients/{due_patient.study_id}/questionnaires/week1/send/"
    assert client.get(send).status_code == 405
    client.post(send)
    invitation = Invitation.objects.get(visit__patient=due_patient, visit_code="week1")
    assert invitation.status == InvitationStatus.SENT and invitation.language == "es" and len(mail.outbox) == 1
    client.post(send)  # resend: a second message with a new link; both links work
    assert len(mail.outbox) == 2
    links = [line for m in mail.outbox for line in m.body.splitlines() if "/q/" in line]
    assert len(set(links)) == 2 and all(tokens.resolve(link.rstrip("/").rsplit("/", 1)[-1]) == invitation for link in links)
    qr = client.post(f"/patients/{due_patient.study_id}/questionnaires/week1/clinic-link/")
    body = qr.content.decode()
    assert qr.status_code == 200 and "<svg" in body and "no-store" in qr["Cache-Control"]
    clinic_url = body.split('<code id="clinic-url">', 1)[1].split("<", 1)[0]
    assert tokens.resolve(clinic_url.rstrip("/").rsplit("/", 1)[-1]) == invitation
    kinds = list(InvitationEvent.objects.filter(invitation=invitation).values_list("kind", flat=True))
    assert kinds == [EventKind.INVITED, EventKind.RESENT, EventKind.LINK_SHOWN]
    # a visit whose window is not open: refused with the reason, nothing sent
    client.post(f"/patients/{due_patient.study_id}/questionnaires/month3/send/", follow=True)
    assert len(mail.outbox) == 2 and not Invitation.objects.filter(visit_code="month3").exists()


@pytest.mark.django_db
def test_other_sites_and_study_wide_roles_see_no_address_and_cannot_send(
    client, due_patient, coordinator, other_coordinator, data_manager
):
    set_contact(due_patient, email="pat@example.org", actor=coordinator)
    client.force_login(data_manager)
    page = client.get(f"/patients/{due_patient.study_id}/questionnaires/").content.decode()
    assert "pat@example.org" not in page and "A contact is on file" in page
    assert client.post(f"/patients/{due_patient.study_id}/questionnaires/week1/send/").status_code == 403
    client.force_login(other_coordinator)
    assert client.get(f"/patients/{due_patient.study_id}/questionnaires/").status_code == 404


@pytest.mark.django_db
def test_log_csv_compliance_and_the_worklist_panel(client, coordinator, site, today, time_machine):
    patients = [
        enroll_patient(coordinator, site, enrollment_date=today - dt.timedelta(days=10), day0=today - dt.timedelta(days=9 - i))
        for i in range(3)
    ]
    for n, patient in enumerate(patients):
        set_contact(patient, email=f"p{n}@example.org", actor=coordinator)
    sending.run(any_hour=True)  # week 1 is open for all three (days 9, 8, 7 after day 0)
    week1 = {i.patient_id: i for i in Invitation.objects.filter(visit_code="week1")}
    assert len(week1) == 3
    record_open(week1[patients[0].pk])
    record_submission(week1[patients[0].pk])
    record_open(week1[patients[1].pk])
    rows = {(r.site.code, r.visit_code): r for r in compliance(coordinator)}
    row = rows[("ATL", "week1")]
    # invited 3; opened 2; completed 1; overdue: sent, not submitted, past target day 7 (patients 1 and 2: days 8, 7 →
    # only day 8 is past the target); expired 0
    assert (row.invited, row.opened, row.completed, row.overdue, row.expired) == (3, 2, 1, 1, 0)
    assert row.completed_rate == pytest.approx(1 / 3)
    client.force_login(coordinator)
    page = client.get("/questionnaires/compliance/").content.decode()
    assert 'data-row="ATL:week1"' in page
    worklist = client.get("/worklist/").content.decode()
    assert 'id="overdue-questionnaires"' in worklist and patients[1].study_id in worklist.split('id="overdue-questionnaires"')[1]
    response = client.get("/questionnaires/log.csv?visit=week1")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["at_utc", "site", "study_id", "visit", "event", "number", "detail", "by"]
    assert sorted(r[4] for r in rows[1:]) == sorted(["invited"] * 3 + ["opened", "submitted", "opened"])
    assert "example.org" not in str(rows)
    # the window closes: expired, counted, off the worklist
    time_machine.move_to(dt.datetime.combine(today + dt.timedelta(days=10), dt.time(12), tzinfo=dt.UTC))
    sending.run(any_hour=True)
    row = {(r.site.code, r.visit_code): r for r in compliance(coordinator)}[("ATL", "week1")]
    assert (row.completed, row.overdue, row.expired) == (1, 0, 2)
