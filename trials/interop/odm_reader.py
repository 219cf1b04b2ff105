"""Reading an ODM 1.3.x document — the registry's own export or another system's (REDCap's project XML).

Vendor extensions (REDCap's ``redcap:`` elements and attributes) are ignored;
what is read is the standard part: study, events, forms, item groups, items with
their code lists, and each subject's values per event/form/group repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from trials.interop.odm_checks import ODM_NS

N = {"odm": ODM_NS}


@dataclass
class OdmItem:
    oid: str
    name: str
    data_type: str
    question: str = ""
    codes: dict[str, str] = field(default_factory=dict)  # coded value -> decode


@dataclass
class OdmItemValue:
    event_oid: str
    form_oid: str
    group_oid: str
    group_repeat: str
    item_oid: str
    value: str


@dataclass
class OdmSubject:
    key: str
    site_oid: str = ""
    values: list[OdmItemValue] = field(default_factory=list)

    def value_of(self, item_oid: str, *, event_oid: str | None = None) -> str | None:
        return next((v.value for v in self.values if v.item_oid == item_oid and (event_oid is None or v.event_oid == event_oid)), None)


@dataclass
class OdmDocument:
    odm_version: str
    source_system: str
    study_oid: str
    study_name: str
    events: dict[str, str]  # oid -> name
    forms: dict[str, str]
    item_groups: dict[str, list[str]]  # oid -> item OIDs
    items: dict[str, OdmItem]
    subjects: list[OdmSubject]


def _text(element, path: str) -> str:
    found = element.find(path, N)
    return "" if found is None else "".join(found.itertext()).strip()


def _items(mdv) -> dict[str, OdmItem]:
    code_lists = {
        cl.get("OID"): {i.get("CodedValue"): _text(i, "odm:Decode/odm:TranslatedText") for i in cl.findall("odm:CodeListItem", N)}
        for cl in mdv.findall("odm:CodeList", N)
    }
    items = {}
    for definition in mdv.findall("odm:ItemDef", N):
        ref = definition.find("odm:CodeListRef", N)
        items[definition.get("OID")] = OdmItem(
            oid=definition.get("OID"), name=definition.get("Name"), data_type=definition.get("DataType"),
            question=_text(definition, "odm:Question/odm:TranslatedText"),
            codes=code_lists.get(ref.get("CodeListOID"), {}) if ref is not None else {},
        )
    return items


def _subjects(root) -> list[OdmSubject]:
    subjects = []
    for data in root.findall("odm:ClinicalData/odm:SubjectData", N):
        site = data.find("odm:SiteRef", N)
        subject = OdmSubject(key=data.get("SubjectKey"), site_oid="" if site is None else site.get("LocationOID"))
        for event in data.findall("odm:StudyEventData", N):
            for form in event.findall("odm:FormData", N):
                for group in form.findall("odm:ItemGroupData", N):
                    for item in group.findall("odm:ItemData", N):
                        subject.values.append(OdmItemValue(
                            event.get("StudyEventOID"), form.get("FormOID"), group.get("ItemGroupOID"),
                            group.get("ItemGroupRepeatKey") or "1", item.get("ItemOID"), item.get("Value") or "",
                        ))
        # REDCap's classic (non-longitudinal) export has FormData directly under SubjectData.
        for form in data.findall("odm:FormData", N):
            for group in form.findall("odm:ItemGroupData", N):
                for item in group.findall("odm:ItemData", N):
                    subject.values.append(OdmItemValue(
                        "", form.get("FormOID"), group.get("ItemGroupOID"), group.get("ItemGroupRepeatKey") or "1",
                        item.get("ItemOID"), item.get("Value") or "",
                    ))
        subjects.append(subject)
    return subjects


def odm_read(source) -> OdmDocument:
    """Parse an ODM file (path, bytes or an lxml tree) into plain data."""
    if isinstance(source, bytes):
        root = etree.fromstring(source)
    elif isinstance(source, etree._ElementTree):
        root = source.getroot()
    else:
        root = etree.parse(str(source)).getroot()
    study = root.find("odm:Study", N)
    mdv = study.find("odm:MetaDataVersion", N)
    return OdmDocument(
        odm_version=root.get("ODMVersion", ""),
        source_system=root.get("SourceSystem", ""),
        study_oid=study.get("OID"),
        study_name=_text(study, "odm:GlobalVariables/odm:StudyName"),
        events={e.get("OID"): e.get("Name") for e in mdv.findall("odm:StudyEventDef", N)},
        forms={f.get("OID"): f.get("Name") for f in mdv.findall("odm:FormDef", N)},
        item_groups={g.get("OID"): [r.get("ItemOID") for r in g.findall("odm:ItemRef", N)] for g in mdv.findall("odm:ItemGroupDef", N)},
        items=_items(mdv),
        subjects=_subjects(root),
    )
