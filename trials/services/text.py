"""Free text, clean at the door and safe on the way out (issue 13).

One rule for every free-text input — AE terms, reasons, query messages, device and implant names,
protocol deviations, causes of death, locations — whether it arrives through the API, the web forms
or an import: it may hold any printable Unicode plus tab and line breaks (LF, and CR as browsers send
line breaks as CR LF), but no other C0/C1 control character (U+0000–U+001F, U+007F–U+009F, NUL
included), no lone UTF-16 surrogate (U+D800–U+DFFF, not storable as UTF-8) and no non-character
U+FFFE/U+FFFF. These are exactly the characters XML 1.0 (ODM) and the XLSX format cannot hold, so a
value accepted here can always be exported.

Exports still pass every stored string through ``export_text`` (anything stored before this rule, or
written around the services, is shown with U+FFFD in place of each forbidden character) and the
human-oriented CSV/XLSX files through ``spreadsheet_text`` (OWASP's CSV-injection rule).
"""

from __future__ import annotations

import re
import unicodedata

from django.db import models

from trials.errors import DomainValidationError, ErrorCollector

FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"
# OWASP "CSV Injection": a cell starting with one of these is a formula to Excel/LibreOffice/Sheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _describe(char: str) -> str:
    code = ord(char)
    if code == 0:
        return "NUL (U+0000)"
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate (U+{code:04X})"
    name = unicodedata.name(char, "")
    return f"control character U+{code:04X}" + (f" ({name})" if name else "")


def text_problem(value: str) -> str | None:
    """The rule ``value`` breaks, in words, or None when it is clean."""
    found = FORBIDDEN.search(value)
    if found is None:
        return None
    return (
        f"contains {_describe(found.group())} at position {found.start() + 1}; free text may hold printable "
        "characters, tabs and line breaks only (remove the character, often pasted from another program)."
    )


def require_clean_text(value: str | None, field: str) -> None:
    """Raise ``DomainValidationError({field: ...})`` when ``value`` holds a forbidden character."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise DomainValidationError({field: f"{field.replace('_', ' ').capitalize()} {problem}"})


def text_field_errors(instance: models.Model, errors: ErrorCollector) -> None:
    """Check every character field of a model instance (choices included: codes must be clean too)."""
    for model_field in instance._meta.concrete_fields:
        if isinstance(model_field, models.CharField | models.TextField):
            value = getattr(instance, model_field.attname, None)
            if isinstance(value, str):
                problem = text_problem(value)
                if problem:
                    errors.add(model_field.name, f"{str(model_field.verbose_name).capitalize()} {problem}")


def export_text(value: str) -> str:
    """A stored string made safe for any export format: forbidden characters become U+FFFD."""
    return FORBIDDEN.sub(REPLACEMENT, value)


def spreadsheet_text(value: str) -> str:
    """``export_text`` plus OWASP's CSV-injection rule for files people open in a spreadsheet:
    a cell starting with = + - @ tab or CR is prefixed with an apostrophe, so it is shown as text."""
    value = export_text(value)
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def export_cell(value):
    """``export_text`` for strings; every other value unchanged."""
    return export_text(value) if isinstance(value, str) else value


def spreadsheet_cell(value):
    """``spreadsheet_text`` for strings; numbers, dates and booleans unchanged (a negative number is not a formula)."""
    return spreadsheet_text(value) if isinstance(value, str) else value
