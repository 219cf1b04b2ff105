"""CDISC ODM 1.3.2 export of the registry: metadata (visit schedule as StudyEventDefs, forms, items,
code lists), admin data (users, sites, signature definitions) and clinical data with audit records
and signatures.

The document is checked two ways (``odm_validate``): against the official ODM 1.3.2 XSD that the
``odmlib`` package ships, and by ``odm_reference_errors``, which the XSD cannot do — every OID
reference must name a definition of the right kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from lxml import etree

from trials.domain.missing import MISSING_CODES
from trials.domain.schedule import DEFAULT_SCHEDULE
from trials.interop.forms import Event, Form, Item, events
from trials.interop.odm_checks import MISSING_CODES_OID, odm_reference_errors, odm_schema_errors, odm_validate
from trials.interop.records import form_records, item_code, item_value, patients_for_export, visit_of
from trials.models import Patient, Site, Visit
from trials.services.text import export_text

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
__all__ = ["odm_build", "odm_bytes", "odm_reference_errors", "odm_schema_errors", "odm_validate"]
XML_NS = "http://www.w3.org/XML/1998/namespace"
SYSTEM_USER_OID = "USR.SYSTEM"
MDV_OID = "MDV.1"


def _q(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


def _el(parent, tag: str, text: str | None = None, **attrs) -> etree._Element:
    """A child element; attribute values and ``text`` pass ``export_text`` (XML 1.0 cannot hold control characters)."""
    element = etree.SubElement(parent, _q(tag), {k: export_text(str(v)) for k, v in attrs.items() if v is not None})
    if text is not None:
        element.text = export_text(text)
    return element


def _text(parent, tag: str, text: str) -> etree._Element:
    element = _el(parent, tag)
    translated = _el(element, "TranslatedText", text)
    translated.set(f"{{{XML_NS}}}lang", "en")
    return element


def study_oid() -> str:
    return f"ST.{settings.REGISTRY_STUDY_CODE}"


def event_oid(event: Event) -> str:
    return f"SE.{event.code.upper()}"


def form_oid(form: Form) -> str:
    return f"F.{form.name.upper()}"


def group_oid(form: Form) -> str:
    return f"IG.{form.name.upper()}"


def item_oid(item: Item) -> str:
    return f"I.{item.form.upper()}.{item.name.upper()}"


def codelist_oid(item: Item) -> str:
    return f"CL.{item.form.upper()}.{item.name.upper()}"


def user_oid(user) -> str:
    return SYSTEM_USER_OID if user is None else f"USR.{user.pk}"


def location_oid(site: Site) -> str:
    return f"LOC.{site.code}"


# --- metadata -------------------------------------------------------------------------------------------------------


def _metadata(study) -> None:
    mdv = _el(
        study,
        "MetaDataVersion",
        OID=MDV_OID,
        Name="Registry CRF v1",
        Description="Bone metastasis ablation registry: baseline, day 3, week 1 and months 1, 3, 6 and 12 after the "
        "index procedure",
    )
    all_events = events()
    protocol = _el(mdv, "Protocol")
    _text(protocol, "Description", "Day 0 is the index procedure; scheduled visits with their windows in days from day 0.")
    for order, event in enumerate(all_events, start=1):
        _el(
            protocol,
            "StudyEventRef",
            StudyEventOID=event_oid(event),
            OrderNumber=order,
            Mandatory="Yes" if event.visit_code or event.code == "enrollment" else "No",
        )
    for event in all_events:
        _event_def(mdv, event)
    forms = _unique_forms(all_events)
    for form in forms:
        definition = _el(mdv, "FormDef", OID=form_oid(form), Name=form.label, Repeating="No")
        _el(definition, "ItemGroupRef", ItemGroupOID=group_oid(form), Mandatory="No")
    for form in forms:
        group = _el(mdv, "ItemGroupDef", OID=group_oid(form), Name=form.label, Repeating="Yes" if form.repeating else "No")
        for order, item in enumerate(form.items, start=1):
            _el(group, "ItemRef", ItemOID=item_oid(item), OrderNumber=order, Mandatory="No")
    for form in forms:
        for item in form.items:
            _item_def(mdv, item)
    for form in forms:
        for item in form.items:
            if item.choices:
                _code_list(mdv, item)
    missing_codes = _el(mdv, "CodeList", OID=MISSING_CODES_OID, Name="Missing-data codes", DataType="text")
    for code, label in MISSING_CODES.items():
        _text(_el(missing_codes, "CodeListItem", CodedValue=code), "Decode", label)


def _unique_forms(all_events: Iterable[Event]) -> list[Form]:
    seen: dict[str, Form] = {}
    for event in all_events:
        for form in event.forms:
            seen.setdefault(form.name, form)
    return list(seen.values())


def _event_def(mdv, event: Event) -> None:
    kind = "Scheduled" if event.visit_code or event.code == "enrollment" else "Unscheduled"
    definition = _el(mdv, "StudyEventDef", OID=event_oid(event), Name=event.label, Repeating="No", Type=kind)
    _text(definition, "Description", event.description)
    for order, form in enumerate(event.forms, start=1):
        _el(definition, "FormRef", FormOID=form_oid(form), OrderNumber=order, Mandatory="No")
    if event.visit_code:
        visit = next(v for v in DEFAULT_SCHEDULE if v.code == event.visit_code)
        _el(definition, "Alias", Context="registry:target_day", Name=visit.target_day)
        _el(definition, "Alias", Context="registry:window_days", Name=f"{visit.window_start}..{visit.window_end}")


def _item_def(mdv, item: Item) -> None:
    definition = _el(mdv, "ItemDef", OID=item_oid(item), Name=item.variable, DataType=item.data_type)
    _text(definition, "Question", item.label)
    if item.choices:
        _el(definition, "CodeListRef", CodeListOID=codelist_oid(item))


def _code_list(mdv, item: Item) -> None:
    code_list = _el(mdv, "CodeList", OID=codelist_oid(item), Name=item.variable, DataType="text")
    for value, label in item.choices:
        entry = _el(code_list, "CodeListItem", CodedValue=value)
        _text(entry, "Decode", label)


# --- admin data -----------------------------------------------------------------------------------------------------


@dataclass
class _AdminRefs:
    users: dict[str, str]  # oid -> login name
    sites: dict[str, Site]
    signature_meanings: dict[str, str]  # meaning -> SignatureDef OID

    def user(self, user) -> str:
        oid = user_oid(user)
        self.users.setdefault(oid, "system" if user is None else user.get_username())
        return oid

    def meaning(self, meaning: str) -> str:
        return self.signature_meanings.setdefault(meaning, f"SD.{len(self.signature_meanings) + 1}")


def _admin_data(root, refs: _AdminRefs) -> None:
    admin = _el(root, "AdminData", StudyOID=study_oid())
    for oid, login in sorted(refs.users.items()):
        user = _el(admin, "User", OID=oid)
        _el(user, "LoginName", login)
    effective = timezone.localdate().isoformat()
    for site in sorted(refs.sites.values(), key=lambda s: s.code):
        location = _el(admin, "Location", OID=location_oid(site), Name=site.name, LocationType="Site")
        _el(location, "MetaDataVersionRef", StudyOID=study_oid(), MetaDataVersionOID=MDV_OID, EffectiveDate=effective)
    for meaning, oid in refs.signature_meanings.items():
        definition = _el(admin, "SignatureDef", OID=oid, Methodology="Electronic")
        _el(definition, "Meaning", meaning)
        _el(definition, "LegalReason", "Investigator sign-off, re-authenticated by password (21 CFR Part 11 §11.200).")


# --- clinical data --------------------------------------------------------------------------------------------------


def _audit_record(parent, record, site: Site, refs: _AdminRefs) -> None:
    audit = _el(parent, "AuditRecord")
    _el(audit, "UserRef", UserOID=refs.user(record.updated_by))
    _el(audit, "LocationRef", LocationOID=location_oid(site))
    _el(audit, "DateTimeStamp", record.updated_at.isoformat())
    reason = getattr(record, "last_change_reason", "") or ""
    if reason:
        _el(audit, "ReasonForChange", reason)


def _signature(parent, visit: Visit, site: Site, refs: _AdminRefs) -> None:
    current = [s for s in visit.x_signatures if s.visit_version == visit.version]  # type: ignore[attr-defined]  # Prefetch to_attr
    if not current:
        return
    signature = current[0]
    element = _el(parent, "Signature")
    _el(element, "UserRef", UserOID=refs.user(signature.signer))
    _el(element, "LocationRef", LocationOID=location_oid(site))
    _el(element, "SignatureRef", SignatureOID=refs.meaning(signature.meaning))
    _el(element, "DateTimeStamp", signature.signed_at.isoformat())


def _subject(clinical, patient: Patient, refs: _AdminRefs) -> None:
    site = patient.site
    refs.sites[site.code] = site
    subject = _el(clinical, "SubjectData", SubjectKey=patient.study_id)
    _audit_record(subject, patient, site, refs)
    _el(subject, "SiteRef", LocationOID=location_oid(site))
    for event in events():
        filled = [(form, form_records(patient, form, event)) for form in event.forms]
        if not any(records for _, records in filled):
            continue
        event_data = _el(subject, "StudyEventData", StudyEventOID=event_oid(event))
        visit = visit_of(patient, event.visit_code) if event.visit_code else None
        if visit is not None:
            _signature(event_data, visit, site, refs)
        for form, records in filled:
            if records:
                _form_data(event_data, form, records, site, refs)


def _form_data(event_data, form: Form, records: list, site: Site, refs: _AdminRefs) -> None:
    form_data = _el(event_data, "FormData", FormOID=form_oid(form))
    for record in records:  # ItemGroupRepeatKey is the record's stable instance number (issue 13)
        group = _el(
            form_data,
            "ItemGroupData",
            ItemGroupOID=group_oid(form),
            ItemGroupRepeatKey=record.repeat_instance if form.repeating else None,
        )
        _audit_record(group, record, site, refs)
        for item in form.items:
            value = item_value(record, item)
            if value is not None:
                _el(group, "ItemData", ItemOID=item_oid(item), Value=value)
            elif code := item_code(record, item):  # a coded blank: null, the code as an ODM Annotation flag
                annotation = _el(_el(group, "ItemData", ItemOID=item_oid(item), IsNull="Yes"), "Annotation", SeqNum=1)
                _el(_el(annotation, "Flag"), "FlagValue", code, CodeListOID=MISSING_CODES_OID)


def odm_build(user, *, patients=None) -> etree._ElementTree:
    """The registry (as this user may read it) as one ODM 1.3.2 snapshot document."""
    now = timezone.now()
    root = etree.Element(_q("ODM"), nsmap={None: ODM_NS})
    for name, value in (
        ("FileType", "Snapshot"),
        ("Granularity", "All"),
        ("FileOID", f"F.{study_oid()}.{now:%Y%m%dT%H%M%S}"),
        ("CreationDateTime", now.isoformat()),
        ("ODMVersion", "1.3.2"),
        ("SourceSystem", "bone-mets-ablation-registry"),
        ("Description", "Registry export (issue 6)"),
    ):
        root.set(name, value)
    study = _el(root, "Study", OID=study_oid())
    globals_ = _el(study, "GlobalVariables")
    _el(globals_, "StudyName", settings.REGISTRY_STUDY_CODE)
    _el(globals_, "StudyDescription", "Registry of percutaneous ablation of bone metastases (TRIBUTE-like).")
    _el(globals_, "ProtocolName", settings.REGISTRY_STUDY_CODE)
    _metadata(study)
    refs = _AdminRefs(users={}, sites={}, signature_meanings={})
    clinical = etree.Element(_q("ClinicalData"), StudyOID=study_oid(), MetaDataVersionOID=MDV_OID)
    for patient in patients if patients is not None else patients_for_export(user):
        _subject(clinical, patient, refs)
    _admin_data(root, refs)  # AdminData precedes ClinicalData in the schema
    root.append(clinical)
    return etree.ElementTree(root)


def odm_bytes(tree: etree._ElementTree) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)
