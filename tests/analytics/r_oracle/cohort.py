"""A frozen 40-patient synthetic ADTTE cohort used as the R-oracle test case.

Generated once (numpy seed 20260126, times rounded to create ties) and then
edited by hand to force the cases the estimators must handle exactly:
- P10 dies (no SRE) on day 93, the day P18 has an SRE: a tie of the event of
  interest and the competing event;
- P39 dies (no SRE) on day 48, the day P11 and P29 both have an SRE: a tie of
  two SREs and a death;
- P31 is censored on day 123, the day P27 and P30 have an SRE;
- several deaths and censorings share a day (25, 45, 75, 135, 155).
Consistency of the ADTTE contract holds: sre_event 2 ⇔ death without prior
SRE with sre_days = os_days; sre_event 0 ⇒ sre_days = os_days, os_event 0.

The reference values in the tests were computed from exactly these rows by
``oracle.R`` in this folder (R 4.2.2, survival 3.5.3, cmprsk 2.2-11).
"""

from __future__ import annotations

import pandas as pd

COLUMNS = (
    "study_id",
    "site",
    "modality",
    "augmentation",
    "radiation_sequence",
    "region",
    "sre_days",
    "sre_event",
    "os_days",
    "os_event",
)

ROWS = (
    ("P01", "S1", "RFA", "none", "after", "long_bone", 175, 0, 175, 0),
    ("P02", "S2", "cryo", "cement", "after", "spine", 155, 0, 155, 0),
    ("P03", "S3", "cryo", "cement", "before", "long_bone", 255, 0, 255, 0),
    ("P04", "S1", "MWA", "none", "after", "long_bone", 3, 1, 315, 0),
    ("P05", "S2", "cryo", "cement", "before", "long_bone", 33, 1, 395, 0),
    ("P06", "S3", "RFA", "none", "after", "spine", 135, 2, 135, 1),
    ("P07", "S1", "RFA", "cement", "after", "pelvis", 75, 2, 75, 1),
    ("P08", "S2", "RFA", "cement", "before", "spine", 45, 2, 45, 1),
    ("P09", "S3", "MWA", "cement", "before", "spine", 215, 2, 215, 1),
    ("P10", "S1", "RFA", "none", "after", "pelvis", 93, 2, 93, 1),
    ("P11", "S2", "RFA", "none", "after", "long_bone", 48, 1, 245, 0),
    ("P12", "S3", "cryo", "none", "after", "pelvis", 25, 2, 25, 1),
    ("P13", "S1", "MWA", "none", "after", "long_bone", 335, 0, 335, 0),
    ("P14", "S2", "MWA", "none", "after", "pelvis", 145, 0, 145, 0),
    ("P15", "S3", "MWA", "none", "before", "spine", 85, 0, 85, 0),
    ("P16", "S1", "RFA", "none", "before", "long_bone", 155, 2, 155, 1),
    ("P17", "S2", "MWA", "cement", "before", "long_bone", 78, 1, 155, 1),
    ("P18", "S3", "cryo", "cement", "before", "long_bone", 93, 1, 135, 0),
    ("P19", "S1", "cryo", "none", "after", "long_bone", 175, 2, 175, 1),
    ("P20", "S2", "cryo", "cement", "before", "spine", 348, 1, 375, 0),
    ("P21", "S3", "RFA", "cement", "before", "spine", 138, 1, 285, 0),
    ("P22", "S1", "MWA", "none", "after", "long_bone", 45, 2, 45, 1),
    ("P23", "S2", "MWA", "cement", "after", "long_bone", 168, 1, 325, 0),
    ("P24", "S3", "RFA", "none", "after", "spine", 25, 2, 25, 1),
    ("P25", "S1", "RFA", "none", "before", "spine", 63, 1, 85, 1),
    ("P26", "S2", "RFA", "none", "before", "spine", 3, 1, 265, 1),
    ("P27", "S3", "cryo", "cement", "before", "spine", 123, 1, 135, 0),
    ("P28", "S1", "cryo", "cement", "after", "pelvis", 225, 0, 225, 0),
    ("P29", "S2", "cryo", "none", "after", "pelvis", 48, 1, 285, 0),
    ("P30", "S3", "RFA", "none", "after", "spine", 123, 1, 135, 1),
    ("P31", "S1", "RFA", "none", "after", "spine", 123, 0, 123, 0),
    ("P32", "S2", "MWA", "none", "before", "pelvis", 75, 0, 75, 0),
    ("P33", "S3", "RFA", "none", "after", "pelvis", 258, 1, 395, 0),
    ("P34", "S1", "RFA", "cement", "after", "pelvis", 35, 2, 35, 1),
    ("P35", "S2", "cryo", "cement", "after", "pelvis", 183, 1, 265, 1),
    ("P36", "S3", "RFA", "cement", "after", "spine", 75, 0, 75, 0),
    ("P37", "S1", "MWA", "cement", "after", "spine", 245, 0, 245, 0),
    ("P38", "S2", "cryo", "none", "after", "long_bone", 105, 2, 105, 1),
    ("P39", "S3", "RFA", "none", "before", "long_bone", 48, 2, 48, 1),
    ("P40", "S1", "MWA", "cement", "before", "pelvis", 55, 2, 55, 1),
)


def adtte_frame() -> pd.DataFrame:
    """The cohort as an ``adtte`` frame (one row per patient)."""
    return pd.DataFrame(list(ROWS), columns=list(COLUMNS))
