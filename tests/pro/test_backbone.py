"""PRO backbone (issue 15): instruments as data, the shared BPI scoring rule, link tokens, encrypted contacts."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.utils import timezone

from pro import crypto, instruments, scoring, tokens
from pro.models import Instrument, Invitation, InvitationStatus, InvitationToken, PatientContact
from pro.services import invitation_for_visit
from tests.factories import make_user
from trials.access import access_for
from trials.domain import bpi
from trials.models import Role


@pytest.fixture
def visit(patient):
    return patient.visits.get(visit_code="month3")


# --- instruments -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_shipped_instruments_are_loaded_by_the_migration_in_english_only():
    rows = {i.code: i for i in Instrument.objects.current()}
    assert set(rows) == {"bpi_sf", "opioid_self_report"}
    bpi_sf = rows["bpi_sf"]
    codes = [item["code"] for item in bpi_sf.items]
    assert codes[:4] == list(bpi.INTENSITY_ITEMS) and "relief_pct" in codes and codes[-7:] == list(bpi.INTERFERENCE_ITEMS)
    # Spanish is named as a placeholder to be loaded by the site, never offered, never given invented text
    assert bpi_sf.languages == ["en"] and bpi_sf.definition["languages"]["es"]["status"] == "placeholder"
    assert all(set(item["text"]) == {"en"} for item in bpi_sf.items)


def test_the_bpi_interference_rule_is_read_from_the_instrument_and_shared_with_the_coordinator_form():
    rule = {r["code"]: r for r in instruments.shipped_definition("bpi_sf")["scoring"]}["interference"]
    assert rule["min_answered"] == 4 and tuple(rule["items"]) == bpi.INTERFERENCE_ITEMS == tuple(bpi.INTERFERENCE_RULE["items"])
    definition = instruments.shipped_definition("bpi_sf")
    # 4 of 7 answered: mean of the 4 (hand computed: (2+4+6+8)/4 = 5.0); 3 of 7: missing, on both paths
    four = {"general_activity": 2, "mood": 4, "walking_ability": 6, "normal_work": 8}
    assert scoring.score(definition, four)["interference"] == 5.0
    assert bpi.interference_score([2, 4, 6, 8, None, None, None]) == 5.0
    three = {"general_activity": 2, "mood": 4, "walking_ability": 6}
    assert scoring.score(definition, three)["interference"] is None
    assert bpi.interference_score([2, 4, 6, None, None, None, None]) is None
    full = dict(zip(bpi.INTERFERENCE_ITEMS, [1, 2, 3, 4, 5, 6, 7], strict=True))
    assert scoring.score(definition, full)["interference"] == bpi.interference_score([1, 2, 3, 4, 5, 6, 7]) == 4.0
    assert scoring.score(definition, {"worst": 8, "least": 2, "average": 5, "current": 5})["severity"] == 5.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["items"][0].update(scale="nope"), "scale 'nope' is not defined"),
        (lambda d: d["scoring"][0].update(items=["worst", "ghost"]), "unknown items ['ghost']"),
        (lambda d: d["scoring"][0].update(min_answered=9), "min_answered exceeds"),
        (lambda d: d["languages"].update(es={"status": "validated", "source": "x"}), "no 'es' text"),
        (lambda d: d["scales"]["pain_0_10"].pop("max"), "'max' is a required property"),
        (lambda d: d["scoring"][0].update(method="median"), "median"),
    ],
)
def test_a_broken_definition_is_refused_naming_the_rule(change, message):
    definition = instruments.shipped_definition("bpi_sf")
    change(definition)
    with pytest.raises(instruments.InstrumentError, match=message.replace("[", r"\[").replace("]", r"\]")):
        instruments.validate_definition(definition)


def test_a_site_translation_must_cover_every_text_and_then_becomes_offered():
    definition = instruments.shipped_definition("bpi_sf")
    template = instruments.translation_template(definition, "es")
    with pytest.raises(instruments.InstrumentError, match="'source' is required"):
        instruments.load_translation(definition, template)
    template["source"] = "Licensed validated translation (test fixture, not real Spanish)"
    partial = {**template, "texts": dict(list(template["texts"].items())[:-1])}
    with pytest.raises(instruments.InstrumentError, match="missing text"):
        instruments.load_translation(definition, partial)
    merged = instruments.load_translation(definition, template)
    assert instruments.validated_languages(merged) == ["en", "es"]
    assert merged["items"][0]["text"]["es"].startswith("TODO translate: Please rate")
    assert "es" not in definition["items"][0]["text"]  # the input is untouched
    assert instruments.text(merged["items"][0]["text"], "es", ["en", "es"]) == merged["items"][0]["text"]["es"]
    assert instruments.text(definition["items"][0]["text"], "es", ["en"]) == definition["items"][0]["text"]["en"]


@pytest.mark.django_db
def test_pro_instrument_load_installs_a_translation_and_keeps_it_when_shipped_ones_reload(tmp_path):
    from django.core.management import call_command

    template = instruments.translation_template(instruments.shipped_definition("bpi_sf"), "es")
    template["source"] = "Site licence 2026-11 (test)"
    path = tmp_path / "es.json"
    path.write_text(json.dumps(template))
    call_command("pro_instrument_load", str(path), "--translation", "--instrument", "bpi_sf")
    assert Instrument.objects.current().get(code="bpi_sf").languages == ["en", "es"]
    call_command("pro_instrument_load", "--shipped")
    assert Instrument.objects.current().get(code="bpi_sf").languages == ["en", "es"]


def test_answers_are_checked_against_the_scales():
    bpi_def = instruments.shipped_definition("bpi_sf")
    assert instruments.validate_answers(bpi_def, {"worst": 7, "relief_pct": 30}) == {}
    errors = instruments.validate_answers(bpi_def, {"worst": 11, "relief_pct": 35, "mood": "x", "ghost": 1})
    assert errors == {
        "worst": "worst: must be between 0 and 10",
        "relief_pct": "relief_pct: must be in steps of 10",
        "mood": "mood: must be a number",
        "ghost": "ghost: not an item of this questionnaire",
    }
    opioid = instruments.shipped_definition("opioid_self_report")
    assert instruments.validate_answers(opioid, {}, complete=True) == {"opioid_use": "opioid_use: an answer is required"}
    assert instruments.validate_answers(opioid, {"opioid_use": "none"}, complete=True) == {}
    taking = {"opioid_use": "taking", "medicines": [{"drug": "oxycodone", "strength": 5, "unit": "mg", "doses_per_day": 4}]}
    assert instruments.validate_answers(opioid, taking, complete=True) == {}
    bad = {"opioid_use": "none", "medicines": [{"drug": "oxycodone"}]}
    assert "medicines" in instruments.validate_answers(opioid, bad)
    incomplete = {"opioid_use": "taking", "medicines": [{"drug": "heroin", "strength": 5}]}
    errors = instruments.validate_answers(opioid, incomplete, complete=True)
    assert set(errors) == {"medicines.0.drug", "medicines.0.unit", "medicines.0.doses_per_day"}


# --- tokens --------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_tokens_are_256_bit_stored_as_sha256_only_and_resolve_to_their_invitation(visit, patient):
    invitation = invitation_for_visit(visit)
    assert invitation.expires_at == dt.datetime.combine(visit.window_end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    token = tokens.issue(invitation)
    assert len(token) == 43  # 32 bytes url-safe base64
    assert InvitationToken.objects.get().token_hash == tokens.token_hash(token) != token
    with connection.cursor() as cursor:  # the clear token is in no table
        for table in connection.introspection.table_names():
            if table.startswith("pro_"):
                cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names from introspection
                assert token not in repr(cursor.fetchall()), table
    assert tokens.resolve(token) == invitation
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert tokens.resolve(tampered) is None and tokens.resolve("") is None and tokens.resolve(token + "x") is None
    other = invitation_for_visit(patient.visits.get(visit_code="month6"))
    other_token = tokens.issue(other)
    assert tokens.resolve(other_token) == other != invitation
    second = tokens.issue(invitation)  # a reminder's link: the first one keeps working
    assert tokens.resolve(token) == tokens.resolve(second) == invitation


@pytest.mark.django_db
def test_tokens_die_when_the_window_closes_at_the_site_and_after_submission(visit, time_machine):
    site = visit.patient.site
    site.time_zone = "America/Chicago"
    site.save()
    invitation = invitation_for_visit(visit)
    token = tokens.issue(invitation)
    closes = dt.datetime.combine(visit.window_end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.timezone(dt.timedelta(hours=-6)))
    assert invitation.expires_at == closes
    time_machine.move_to(closes - dt.timedelta(seconds=1))
    assert tokens.resolve(token) == invitation
    time_machine.move_to(closes)
    assert tokens.resolve(token) is None
    time_machine.move_to(closes - dt.timedelta(hours=1))
    Invitation.objects.filter(pk=invitation.pk).update(status=InvitationStatus.SUBMITTED, submitted_at=timezone.now())
    assert tokens.resolve(token) is None
    assert tokens.resolve(token, include_submitted=True) == invitation
    Invitation.objects.filter(pk=invitation.pk).update(status=InvitationStatus.STOPPED)
    assert tokens.resolve(token, include_submitted=True) is None
    with pytest.raises(ValueError, match="no new link"):
        tokens.issue(Invitation.objects.get(pk=invitation.pk))


# --- contacts ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_contact_is_encrypted_at_rest_and_its_history_holds_no_address(patient):
    contact = PatientContact(patient=patient)
    contact.email = "patient.one@example.org"
    contact.phone = "+1 555 0100"
    contact.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT email_encrypted, phone_encrypted FROM pro_patientcontact")
        stored = cursor.fetchone()
        cursor.execute("SELECT * FROM pro_historicalpatientcontact")
        history = repr(cursor.fetchall())
    assert "example.org" not in repr(stored) and "555" not in repr(stored)
    assert "example.org" not in history and stored[0] not in history
    fresh = PatientContact.objects.get(pk=contact.pk)
    assert (fresh.email, fresh.phone) == ("patient.one@example.org", "+1 555 0100")
    assert "example" not in str(fresh) + repr(fresh)


def test_rotating_the_contact_key_keeps_old_values_readable(settings):
    from cryptography.fernet import Fernet

    old = crypto.encrypt("a@example.org")
    settings.PRO_CONTACT_KEY = f"{Fernet.generate_key().decode()},{settings.PRO_CONTACT_KEY}"
    assert crypto.decrypt(old) == "a@example.org"
    rotated = crypto.rotate(old)
    settings.PRO_CONTACT_KEY = settings.PRO_CONTACT_KEY.split(",")[0]
    assert crypto.decrypt(rotated) == "a@example.org"
    with pytest.raises(crypto.InvalidToken):
        crypto.decrypt(old)


@pytest.mark.django_db
def test_only_the_patients_own_site_staff_may_read_the_contact(
    patient, coordinator, other_coordinator, data_manager, investigator, sponsor
):
    site_investigator = make_user("si", Role.SITE_INVESTIGATOR, patient.site)
    assert access_for(coordinator).can_read_contact(patient.site_id)
    assert access_for(site_investigator).can_read_contact(patient.site_id)
    for user in (other_coordinator, data_manager, investigator, sponsor):
        assert not access_for(user).can_read_contact(patient.site_id), user
