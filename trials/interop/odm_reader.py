"""Reading an ODM 1.3.x document — the registry's own export or another system's (REDCap's project XML).

Vendor extensions (REDCap's ``redcap:`` elements and attributes) are ignored. A null ItemData (``IsNull="Yes"``)
flagged with a missing-data code (Annotation/Flag/FlagValue on the ``CL.MISSING_DATA_CODE`` code list, as the
registry writes it) keeps the code in ``OdmItemValue.missing_code``;
what is read is the standard part: study, events, forms, item groups, items with
their code lists, and each subject's values per event/form/group repeat.

Every repeat key is kept (``StudyEventRepeatKey``, ``FormRepeatKey``, ``ItemGroupRepeatKey``), so two instances
of a repeating event, form or group never overwrite each other. ``TransactionType`` (ODM 1.3.2 §2.4: Insert,
Update, Remove, Upsert, Context) is applied in document order on SubjectData, StudyEventData, FormData,
ItemGroupData and ItemData: ``Remove`` deletes the element's values (all values below it), ``Context`` changes
nothing (the element only locates its children), the others set the value. ``OdmSubject.values`` is the result:
the live values; a removed subject is left out of ``OdmDocument.subjects`` (and listed in ``removed_subjects``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from trials.interop.odm_checks import MISSING_CODES_OID, ODM_NS

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
    event_repeat: str = "1"
    form_repeat: str = "1"
    transaction: str = ""  # the TransactionType that set the value (blank in snapshot files)
    missing_code: str = ""  # why a null item is blank (its missing-data flag: NASK, UNK, NA, ASKU), else ""

    @property
    def key(self) -> tuple[str, ...]:
        return (
            self.event_oid,
            self.event_repeat,
            self.form_oid,
            self.form_repeat,
            self.group_oid,
            self.group_repeat,
            self.item_oid,
        )


@dataclass
class OdmSubject:
    key: str
    site_oid: str = ""
    values: list[OdmItemValue] = field(default_factory=list)

    def value_of(
        self, item_oid: str, *, event_oid: str | None = None, group_repeat: str | None = None, event_repeat: str | None = None
    ) -> str | None:
        return next(
            (
                v.value
                for v in self.values
                if v.item_oid == item_oid
                and (event_oid is None or v.event_oid == event_oid)
                and (group_repeat is None or v.group_repeat == group_repeat)
                and (event_repeat is None or v.event_repeat == event_repeat)
            ),
            None,
        )


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
    removed_subjects: list[str] = field(default_factory=list)


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
            oid=definition.get("OID"),
            name=definition.get("Name"),
            data_type=definition.get("DataType"),
            question=_text(definition, "odm:Question/odm:TranslatedText"),
            codes=code_lists.get(ref.get("CodeListOID"), {}) if ref is not None else {},
        )
    return items


class _State:
    """Live values of one subject while transactions are applied in document order."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, ...], OdmItemValue] = {}

    def remove(self, prefix: tuple[str, ...]) -> None:
        for key in [k for k in self.values if k[: len(prefix)] == prefix]:
            del self.values[key]

    def set(self, value: OdmItemValue) -> None:
        self.values[value.key] = value


def _missing_code(item) -> str:
    if item.get("IsNull") != "Yes":
        return ""
    flag = item.find(f"odm:Annotation/odm:Flag/odm:FlagValue[@CodeListOID='{MISSING_CODES_OID}']", N)
    return (flag.text or "").strip() if flag is not None else ""


def _groups(state: _State, parent, event: tuple[str, str], form) -> None:
    form_key = (*event, form.get("FormOID"), form.get("FormRepeatKey") or "1")
    if form.get("TransactionType") == "Remove":
        state.remove(form_key)
        return
    for group in form.findall("odm:ItemGroupData", N):
        group_key = (*form_key, group.get("ItemGroupOID"), group.get("ItemGroupRepeatKey") or "1")
        if group.get("TransactionType") == "Remove":
            state.remove(group_key)
            continue
        for item in group.findall("odm:ItemData", N):
            transaction = item.get("TransactionType") or group.get("TransactionType") or ""
            value = OdmItemValue(
                event[0],
                form_key[2],
                group_key[4],
                group_key[5],
                item.get("ItemOID"),
                "" if item.get("IsNull") == "Yes" else item.get("Value") or "",
                event_repeat=event[1],
                form_repeat=form_key[3],
                transaction=transaction,
                missing_code=_missing_code(item),
            )
            if transaction == "Remove":
                state.remove(value.key)
            elif transaction != "Context":
                state.set(value)


def _subjects(root) -> tuple[list[OdmSubject], list[str]]:
    subjects: dict[str, OdmSubject] = {}
    states: dict[str, _State] = {}
    removed: list[str] = []
    for clinical in root.findall("odm:ClinicalData", N):
        for data in clinical.findall("odm:SubjectData", N):
            key = data.get("SubjectKey")
            if data.get("TransactionType") == "Remove":
                subjects.pop(key, None)
                states.pop(key, None)
                removed.append(key)
                continue
            site = data.find("odm:SiteRef", N)
            subject = subjects.setdefault(key, OdmSubject(key=key))
            if site is not None:
                subject.site_oid = site.get("LocationOID")
            state = states.setdefault(key, _State())
            for event in data.findall("odm:StudyEventData", N):
                event_key = (event.get("StudyEventOID"), event.get("StudyEventRepeatKey") or "1")
                if event.get("TransactionType") == "Remove":
                    state.remove(event_key)
                    continue
                for form in event.findall("odm:FormData", N):
                    _groups(state, event, event_key, form)
            # REDCap's classic (non-longitudinal) export has FormData directly under SubjectData.
            for form in data.findall("odm:FormData", N):
                _groups(state, data, ("", "1"), form)
    for key, subject in subjects.items():
        subject.values = list(states[key].values.values())
    return list(subjects.values()), [k for k in removed if k not in subjects]


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
    subjects, removed = _subjects(root)
    return OdmDocument(
        odm_version=root.get("ODMVersion", ""),
        source_system=root.get("SourceSystem", ""),
        study_oid=study.get("OID"),
        study_name=_text(study, "odm:GlobalVariables/odm:StudyName"),
        events={e.get("OID"): e.get("Name") for e in mdv.findall("odm:StudyEventDef", N)},
        forms={f.get("OID"): f.get("Name") for f in mdv.findall("odm:FormDef", N)},
        item_groups={
            g.get("OID"): [r.get("ItemOID") for r in g.findall("odm:ItemRef", N)] for g in mdv.findall("odm:ItemGroupDef", N)
        },
        items=_items(mdv),
        subjects=subjects,
        removed_subjects=removed,
    )
