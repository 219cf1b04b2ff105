"""Missing-data codes: why a value is absent, stored apart from a plain blank.

The codes follow the HL7 v3 / CDISC ODM "null flavor" vocabulary that REDCap's
missing-data codes also use, so an export reader knows a coded item from one
nobody filled in:

========  ==========================================================================
``NASK``  Not asked: the item was not put to the patient.
``UNK``   Asked but unknown: the patient was asked and could not say.
``NA``    Not applicable: the item does not apply to this patient at this visit.
``ASKU``  Asked, declined: the patient was asked and did not give an answer.
========  ==========================================================================

A blank item without a code stays plain missing data. A visit that could not
take place at all is recorded as *not done* with a reason (``Visit.not_done_reason``),
not as a missed visit.
"""

from __future__ import annotations

MISSING_CODES: dict[str, str] = {
    "NASK": "Not asked",
    "UNK": "Asked but unknown",
    "NA": "Not applicable",
    "ASKU": "Asked, declined to answer",
}
MISSING_CODE_CHOICES = list(MISSING_CODES.items())
