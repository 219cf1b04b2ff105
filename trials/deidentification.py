"""The sponsor rule set: which fields a de-identified view withholds and how dates are named (docs/domain.md §10).

One rule set for every sponsor representation — the API serializers (``trials.api.deidentify``), the CSV/XLSX
exports and Dataset-JSON (``trials.interop.tabular``):

- every calendar date ``<name>_date`` / ``<name>`` becomes ``<name>_day``: days from the patient's day 0
  (the index procedure); day 0 itself is dropped (it is 0 by definition);
- free text (terms, device and implant names, causes, locations, reasons…) and audit stamps are withheld;
- birth year becomes age at enrollment (registry convention: enrollment year − birth year), with every
  age over 89 aggregated into the single category ``"90+"`` (``trials.domain.age.age_deidentified``;
  HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i)(C));
- device identifiers (lot and serial numbers, UDIs: 45 CFR 164.514(b)(2)(i)(M)) and device names are withheld,
  including any future field whose name says it is one (``*lot*``, ``*serial*``, ``udi``);
- nothing anchored to "today" or to record timestamps: no audit stamps, and the filters that would
  bound them (``updated_since``, visit ``status``) answer 400 (``trials.api.filters``).

Fail-closed: free text of the case-report forms is classified in ``trials.crf`` (an unclassified text field
fails the build), and a staff serializer field the API does not know how to de-identify (a datetime that is
not an audit stamp) makes the build fail, so new fields cannot leak.
"""

from __future__ import annotations

import re

from trials import crf

# Free text of the case-report forms is classified once, in trials.crf (an unclassified text field fails
# the build); the rest is record bookkeeping and names that are text by nature.
FREE_TEXT_FIELDS = crf.withheld_fields() | {
    "void_reason",
    "protocol_deviation",
    "mme_table_version",
    "reason",
    "name",
    "not_done_reason",
}
AUDIT_STAMP_FIELDS = frozenset({"created_at", "updated_at", "voided_at", "created_by", "updated_by", "voided_by"})
DROPPED_DATE_FIELDS = frozenset({"day0"})
DEVICE_IDENTIFIER_FIELDS = frozenset(i.name for f in crf.FORMS for i in f.items if i.kind == crf.Kind.DEVICE_IDENTIFIER)
DEVICE_IDENTIFIER_NAME = re.compile(r"(^|_)(lot|lots|serial|serials|udi|udis)(_|$)|(lot|serial)(number|no)")


def is_device_identifier(name: str) -> bool:
    """True for device names and lot/serial/UDI fields (withheld from sponsors)."""
    return name in DEVICE_IDENTIFIER_FIELDS or bool(DEVICE_IDENTIFIER_NAME.search(name.lower()))


def day_field_name(date_field: str) -> str:
    """The sponsor name of a date field: ``procedure_date`` → ``procedure_day``, ``target_date`` → ``target_day``."""
    stem = date_field[: -len("_date")] if date_field.endswith("_date") else date_field
    return f"{stem}_day"
