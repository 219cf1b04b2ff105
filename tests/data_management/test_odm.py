"""CDISC ODM 1.3.2: the export of a seeded registry validates (XSD + OID references); broken documents are caught;
the reader reads our export and REDCap's project XML."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from lxml import etree

from tests.data_management.conftest import PASSWORD, REDCAP_FIXTURES
from trials import services
from trials.access import SYSTEM
from trials.interop.odm import odm_build, odm_bytes, odm_reference_errors, odm_schema_errors, odm_validate
from trials.interop.odm_reader import odm_read
from trials.models import Patient, Visit
from trials.services.signoff import visit_sign

pytestmark = pytest.mark.django_db
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
PROJECT_XML = REDCAP_FIXTURES / "clinical-trial-1" / "project.xml"


@pytest.fixture
def seeded(db):
    call_command("seed_registry", "--sites", "2", "--patients", "12", "--no-progress")
    return Patient.objects.count()


@pytest.fixture
def signed_visit(site_investigator, month1):
    return visit_sign(actor=site_investigator, visit=month1, password=PASSWORD, meaning="review")


def test_export_of_a_seeded_registry_is_valid_odm_132(seeded):
    tree = odm_build(SYSTEM)
    assert odm_schema_errors(tree) == []
    assert odm_reference_errors(tree) == []
    root = tree.getroot()
    assert root.get("ODMVersion") == "1.3.2"
    assert len(root.findall(f".//{ODM}SubjectData")) == seeded
    event_defs = [e.get("OID") for e in root.iter(f"{ODM}StudyEventDef")]
    assert (
        event_defs[:3] == ["SE.ENROLLMENT", "SE.BASELINE", "SE.DAY3"] and len(event_defs) == 9
    )  # schedule + enrollment + ongoing
    assert root.find(f".//{ODM}CodeList[@OID='CL.PROCEDURE.MODALITY']") is not None
    assert root.findall(f".//{ODM}ItemGroupData/{ODM}AuditRecord")


def test_signatures_and_audit_records_are_exported(signed_visit, month1):
    tree = odm_build(SYSTEM)
    assert odm_validate(tree) == []
    event = tree.getroot().find(f".//{ODM}StudyEventData[@StudyEventOID='SE.MONTH1']")
    signature = event.find(f"{ODM}Signature")
    assert signature is not None
    user_oid = signature.find(f"{ODM}UserRef").get("UserOID")
    assert tree.getroot().find(f".//{ODM}User[@OID='{user_oid}']/{ODM}LoginName").text == "si_atl"
    meaning_oid = signature.find(f"{ODM}SignatureRef").get("SignatureOID")
    assert (
        tree.getroot().find(f".//{ODM}SignatureDef[@OID='{meaning_oid}']/{ODM}Meaning").text
        == "I have reviewed the data of this visit."
    )
    reasons = [e.text for e in event.iter(f"{ODM}ReasonForChange")]
    assert reasons and reasons[0].startswith("Signed by si_atl")


def test_an_invalid_document_is_caught_by_the_xsd(month1):
    root = odm_build(SYSTEM).getroot()
    del root.attrib["FileOID"]  # required by the schema
    item = root.find(f".//{ODM}ItemDef")
    item.set("DataType", "colour")  # not an ODM data type
    problems = odm_schema_errors(etree.ElementTree(root))
    messages = " ".join(p.message for p in problems)
    assert "FileOID" in messages and "colour" in messages


def test_a_dangling_oid_reference_is_caught(month1):
    root = odm_build(SYSTEM).getroot()
    root.find(f".//{ODM}ItemData").set("ItemOID", "I.NOWHERE")
    root.find(f".//{ODM}FormRef").set("FormOID", "F.MISSING")
    tree = etree.ElementTree(root)
    assert odm_schema_errors(tree) == []  # the XSD cannot see it...
    problems = [str(p) for p in odm_reference_errors(tree)]
    assert any("ItemOID='I.NOWHERE' names no ItemDef" in p for p in problems)  # ...the reference checker does
    assert any("FormOID='F.MISSING' names no FormDef" in p for p in problems)


def test_reader_reads_our_export_back(month1):
    document = odm_read(odm_bytes(odm_build(SYSTEM)))
    [subject] = document.subjects
    assert subject.key == month1.patient.study_id
    assert subject.value_of("I.VISIT.VISIT_DATE", event_oid="SE.MONTH1") == month1.visit_date.isoformat()
    assert document.items["I.REGISTRATION.SEX"].codes["F"] == "Female"


def test_a_coded_item_is_exported_as_null_with_its_code_and_read_back(coordinator, month1):
    data = services.VisitData.from_visit(month1).with_changes(missing_codes={"mood": "NASK", "sleep": "NA"})
    services.visit_record(actor=coordinator, visit=month1, data=data, reason="Items not asked")
    tree = odm_build(SYSTEM)
    assert odm_validate(tree) == []
    (mood,) = [e for e in tree.getroot().iter(f"{ODM}ItemData") if e.get("ItemOID") == "I.BPI.MOOD"]
    assert (mood.get("IsNull"), mood.get("Value")) == ("Yes", None)
    (flag,) = mood.iter(f"{ODM}FlagValue")
    assert (flag.text, flag.get("CodeListOID")) == ("NASK", "CL.MISSING_DATA_CODE")
    document = odm_read(odm_bytes(tree))
    [subject] = document.subjects
    coded = {v.item_oid: (v.value, v.missing_code) for v in subject.values if v.event_oid == "SE.MONTH1" and v.missing_code}
    assert coded == {"I.BPI.MOOD": ("", "NASK"), "I.BPI.SLEEP": ("", "NA")}
    assert subject.value_of("I.BPI.WORST", event_oid="SE.MONTH1") == "4"
    assert subject.value_of("I.BPI.LEAST", event_oid="SE.MONTH1") == "1"


def test_redcap_project_xml_fixture_parses():
    document = odm_read(PROJECT_XML)
    assert document.source_system == "REDCap" and document.odm_version == "1.3.1"
    assert len(document.subjects) == 500
    assert document.items["gender"].codes == {"0": "Female", "1": "Male"}
    assert document.item_groups["demographics.record_id"][0] == "record_id"
    first = document.subjects[0]
    assert (first.key, first.value_of("gender"), first.value_of("dob")) == ("1", "0", "1991-05-13")
    assert odm_reference_errors(PROJECT_XML) == []


def test_export_odm_command_writes_a_valid_file(tmp_path, month1):
    out = tmp_path / "registry.xml"
    call_command("export_odm", out=str(out))
    assert odm_validate(out) == []
    assert odm_read(out).subjects[0].key == Visit.objects.get(pk=month1.pk).patient.study_id
