"""Spanish pages (issue 15) use the same unambiguous format as English (issue 11): '29 Nov 2026', unambiguous in every country.

Exports keep ISO 8601 (they format dates themselves); pages use ``{{ value|date }}``
or ``{{ value|date:"DATETIME_FORMAT" }}``, which read these.
"""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y H:i"
MONTH_DAY_FORMAT = "j M"
