"""Checks of an ODM 1.3.2 document: the official XSD, and OID references (which no XSD can check).

The XSD is the one the ``odmlib`` package ships (``odmlib/schemas/odm/1.3.2/ODM1-3-2.xsd``,
with its imports beside it), loaded once, offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import odmlib
from lxml import etree

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
# The code list of missing-data codes (NASK, UNK, NA, ASKU; trials.domain.missing). A coded item is written as
# ``<ItemData IsNull="Yes">`` with an ODM Annotation/Flag whose FlagValue (CodeListOID = this) is the code.
MISSING_CODES_OID = "CL.MISSING_DATA_CODE"
ODM_XSD = Path(odmlib.__file__).parent / "schemas" / "odm" / "1.3.2" / "ODM1-3-2.xsd"

# element that refers → (attribute, element kind that must define the OID)
REFERENCES: tuple[tuple[str, str, str], ...] = (
    ("StudyEventRef", "StudyEventOID", "StudyEventDef"),
    ("FormRef", "FormOID", "FormDef"),
    ("ItemGroupRef", "ItemGroupOID", "ItemGroupDef"),
    ("ItemRef", "ItemOID", "ItemDef"),
    ("CodeListRef", "CodeListOID", "CodeList"),
    ("FlagValue", "CodeListOID", "CodeList"),
    ("UserRef", "UserOID", "User"),
    ("LocationRef", "LocationOID", "Location"),
    ("SiteRef", "LocationOID", "Location"),
    ("SignatureRef", "SignatureOID", "SignatureDef"),
    ("ClinicalData", "StudyOID", "Study"),
    ("ClinicalData", "MetaDataVersionOID", "MetaDataVersion"),
    ("AdminData", "StudyOID", "Study"),
    ("MetaDataVersionRef", "StudyOID", "Study"),
    ("MetaDataVersionRef", "MetaDataVersionOID", "MetaDataVersion"),
    ("StudyEventData", "StudyEventOID", "StudyEventDef"),
    ("FormData", "FormOID", "FormDef"),
    ("ItemGroupData", "ItemGroupOID", "ItemGroupDef"),
    ("ItemData", "ItemOID", "ItemDef"),
)
DEFINITIONS = sorted({kind for _, _, kind in REFERENCES})


@dataclass(frozen=True)
class OdmProblem:
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@lru_cache(maxsize=1)
def odm_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(ODM_XSD)))


def _tree(document) -> etree._ElementTree:
    if isinstance(document, etree._ElementTree):
        return document
    if isinstance(document, etree._Element):
        return etree.ElementTree(document)
    if isinstance(document, bytes):
        return etree.ElementTree(etree.fromstring(document))
    if isinstance(document, str) and document.lstrip().startswith("<"):
        return etree.ElementTree(etree.fromstring(document.encode()))
    return etree.parse(str(document))


def odm_schema_errors(document) -> list[OdmProblem]:
    """Every violation of the ODM 1.3.2 XSD, with its line."""
    schema = odm_schema()
    tree = _tree(document)
    if schema.validate(tree):
        return []
    return [OdmProblem(e.line, e.message) for e in schema.error_log]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def odm_reference_errors(document) -> list[OdmProblem]:
    """OID references that name no definition of the right kind, and clinical data outside its definition.

    Containment is checked as well: a FormData must be a form of its StudyEventDef, an ItemGroupData a
    group of its FormDef, an ItemData an item of its ItemGroupDef.
    """
    root = _tree(document).getroot()
    defined: dict[str, dict[str, etree._Element]] = {kind: {} for kind in DEFINITIONS}
    for element in root.iter(*(f"{{{ODM_NS}}}{kind}" for kind in DEFINITIONS)):
        defined[_local(element.tag)][element.get("OID")] = element
    problems = []
    for tag, attribute, kind in REFERENCES:
        for element in root.iter(f"{{{ODM_NS}}}{tag}"):
            oid = element.get(attribute)
            if oid is not None and oid not in defined[kind]:
                problems.append(OdmProblem(element.sourceline, f"{tag} {attribute}={oid!r} names no {kind}."))
    problems += _containment_errors(root, defined)
    return problems


def _children_refs(definition: etree._Element | None, ref_tag: str, attribute: str) -> set[str] | None:
    if definition is None:
        return None
    return {ref.get(attribute) for ref in definition.iter(f"{{{ODM_NS}}}{ref_tag}")}


def _containment_errors(root, defined) -> list[OdmProblem]:
    problems = []
    levels = (
        ("StudyEventData", "StudyEventOID", "StudyEventDef", "FormData", "FormOID", "FormRef"),
        ("FormData", "FormOID", "FormDef", "ItemGroupData", "ItemGroupOID", "ItemGroupRef"),
        ("ItemGroupData", "ItemGroupOID", "ItemGroupDef", "ItemData", "ItemOID", "ItemRef"),
    )
    for parent_tag, parent_attr, parent_kind, child_tag, child_attr, ref_tag in levels:
        for parent in root.iter(f"{{{ODM_NS}}}{parent_tag}"):
            allowed = _children_refs(defined[parent_kind].get(parent.get(parent_attr)), ref_tag, child_attr)
            if allowed is None:
                continue
            for child in parent.findall(f"{{{ODM_NS}}}{child_tag}"):
                if child.get(child_attr) not in allowed:
                    problems.append(
                        OdmProblem(
                            child.sourceline,
                            f"{child_tag} {child_attr}={child.get(child_attr)!r} is not part of {parent_kind} "
                            f"{parent.get(parent_attr)!r}.",
                        )
                    )
    return problems


def odm_validate(document) -> list[OdmProblem]:
    """XSD problems and reference problems together; empty when the document is sound."""
    return odm_schema_errors(document) + odm_reference_errors(document)
