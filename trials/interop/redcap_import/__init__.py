"""Import records from a site's REDCap export through a declarative mapping file (JSON), accountably (issue 13).

The mapping names, for each registry field, the REDCap field it comes from (``"from"``) or a constant
(``"value"``), with an optional value map (``"map"``: REDCap code → registry code), transform
(``"transform"``: ``"year"`` takes the year of a date) and the missing-data codes the site uses in that field
(``"missing"``: e.g. ``["UNK", "NASK"]``; in ``pain.*`` fields a declared code that is one of the registry's codes
(NASK, UNK, NA, ASKU) is stored as the visit's missing-data code for that item, anything else is refused). Sections:

- ``site``: a registry site code, or ``{"from": "redcap_data_access_group"}`` (REDCap's data access group,
  matched to a site code ignoring case);
- ``patient`` (``event`` + ``fields``), with the index ``lesion`` and the index ``procedure`` read from the same row;
- ``visits``: one entry per REDCap event → registry visit code;
- ``study_exit`` (``event`` + ``fields``);
- ``repeating``: REDCap repeating instruments (``redcap_repeat_instrument``/``redcap_repeat_instance``) → registry
  forms ``lesion``, ``radiation``, ``opioid`` (rows of the visit of their event), ``adverse_event``, ``skeletal_event``,
  ``imaging``.

The mapping is validated before any row is read (``mapping_load``). Every input row is accounted for in the
``ImportReport``: imported, updated, unchanged, refused (row, record, field, rule), blank (skipped) or holding no
mapped value. Patients are matched on their source record id (``Patient.source_record_id``, within the site), and
repeating records on their stable instance number, so a second import of the same file changes nothing; a changed
value is updated through the services with a reason naming the file and row. Everything runs in one transaction:
a dry run reports every failing row and rolls back; a real run commits only when no row was refused.

The package: ``mapping`` (mapping loading/validation, ``registry_mapping()``), ``values`` (cell text → values, dates,
missing-data codes), ``report`` (the per-row report), ``rows`` (reading and classifying rows), ``apply``
(``redcap_import``: applying rows through the services) and ``runs`` (web import runs).
"""

from trials.interop.redcap_import.apply import REPEAT_SERVICES, redcap_import
from trials.interop.redcap_import.mapping import (
    DAG,
    REPEATING_FORMS,
    SECTION_MODELS,
    SYSTEM_FIELDS,
    VISIT_FIELDS,
    FieldRule,
    Mapping,
    MappingError,
    Section,
    allowed_targets,
    mapping_load,
    registry_mapping,
)
from trials.interop.redcap_import.report import (
    IGNORED,
    IMPORTED,
    NO_DATA,
    REFUSED,
    UNCHANGED,
    UPDATED,
    ImportReport,
    RowError,
    RowOutcome,
)
from trials.interop.redcap_import.runs import import_run_check, import_run_confirm
from trials.interop.redcap_import.values import DATE_FORMATS, MissingCode

__all__ = [
    "DAG",
    "DATE_FORMATS",
    "IGNORED",
    "IMPORTED",
    "NO_DATA",
    "REFUSED",
    "REPEATING_FORMS",
    "REPEAT_SERVICES",
    "SECTION_MODELS",
    "SYSTEM_FIELDS",
    "UNCHANGED",
    "UPDATED",
    "VISIT_FIELDS",
    "FieldRule",
    "ImportReport",
    "Mapping",
    "MappingError",
    "MissingCode",
    "RowError",
    "RowOutcome",
    "Section",
    "allowed_targets",
    "import_run_check",
    "import_run_confirm",
    "mapping_load",
    "redcap_import",
    "registry_mapping",
]
