"""The case-report forms for the exchange formats (ODM, REDCap): declared once in ``trials.crf``.

Kept as a module so existing imports keep working; new code imports ``trials.crf``.
"""

from trials.crf import (  # noqa: F401
    DATA_TYPES,
    ENROLLMENT_EVENT,
    FORMS,
    FORMS_BY_NAME,
    ONGOING_EVENT,
    VISIT_EVENT,
    Event,
    Form,
    Item,
    Kind,
    events,
    form_of,
    withheld_fields,
)
