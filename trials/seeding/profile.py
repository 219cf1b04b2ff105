"""The synthetic registry's target distributions — one place, asserted by tests.

Pain trajectory after OPuS One (Levy et al., JVIR 2020; docs/domain.md §1): mean BPI
worst pain 8.2 at baseline → 5.6 (3 d), 4.7 (1 wk), 3.9 (1 mo), 3.7 (3 mo).
"""

from __future__ import annotations

from decimal import Decimal

MODALITY_MIX = {"RFA": 0.70, "MWA": 0.15, "cryo": 0.15}
CEMENT_AFTER_HEAT = 0.85  # share of RFA/MWA with cement
CEMENT_AFTER_CRYO = 0.40
IMPLANT_SHARE = 0.03
REGION_MIX = {"spine": 0.50, "pelvis": 0.30, "peripheral": 0.20}
RT_BEFORE_SHARE = 0.35  # the rest after the ablation
RT_SCHEDULES = [  # (dose Gy, fractions, technique, weight)
    (Decimal("8"), 1, "conventional", 0.30),
    (Decimal("20"), 5, "conventional", 0.35),
    (Decimal("30"), 10, "3dcrt", 0.20),
    (Decimal("24"), 2, "sbrt", 0.15),
]
# Baseline worst pain ≥ 5 (eligibility), mean ≈ 8.0.
BASELINE_WORST_PAIN = {5: 0.06, 6: 0.10, 7: 0.18, 8: 0.26, 9: 0.22, 10: 0.18}
# Mean change of worst pain from baseline per visit (OPuS One, docs/domain.md §1).
WORST_PAIN_CHANGE = {"day3": -2.6, "week1": -3.5, "month1": -4.3, "month3": -4.5, "month6": -4.6, "month12": -4.7}
PAIN_NOISE_SD = 1.6
MISSED_VISIT = 0.07
OUT_OF_WINDOW = 0.02
OPIOIDS_AT_BASELINE = 0.75
OPIOID_STOP_BY_VISIT = {"day3": 0.05, "week1": 0.10, "month1": 0.20, "month3": 0.30, "month6": 0.35, "month12": 0.40}
OPIOID_UNKNOWN = 0.02
# 12-month cumulative probabilities (before competing events).
AE_PATIENT_SHARE = 0.05
SRE_12M = 0.06  # the registry-wide share (≈; the hazard below is scaled to give it)
# Issue 16: a known confounded effect for the propensity-weighted comparison to recover. The true hazard ratio of
# SRE with cement vs without is CEMENT_SRE_HR (cement stabilises the ablated bone); in the spine each SINS point above
# SINS_REFERENCE multiplies the SRE hazard by SINS_SRE_HR_PER_POINT (unstable spines fracture: Fourney 2011) and the
# log-odds of cement by CEMENT_LOGIT_PER_SINS_POINT (unstable spines get cement). So cement goes to the patients at
# higher risk and the unadjusted hazard ratio is biased towards 1. SRE_12M_REFERENCE is the 12-month SRE probability
# without cement at the reference SINS (or outside the spine): 0.09 keeps the registry-wide share at ≈ 6% (measured).
CEMENT_SRE_HR = 0.5
SINS_REFERENCE = 9
SINS_SRE_HR_PER_POINT = 1.25
CEMENT_LOGIT_PER_SINS_POINT = 0.6
SRE_12M_REFERENCE = 0.09
DEATH_12M = 0.08
WITHDRAWAL_12M = 0.03
LTFU_12M = 0.02
ENROLLMENT_SPAN_DAYS = 540
HISTOLOGY_MIX = {
    "breast": 0.25,
    "lung": 0.20,
    "prostate": 0.15,
    "renal": 0.12,
    "myeloma": 0.08,
    "colorectal": 0.05,
    "thyroid": 0.04,
    "melanoma": 0.03,
    "hepatocellular": 0.03,
    "sarcoma": 0.02,
    "other": 0.03,
}
# (drug, route, unit, dose choices, doses/day choices) drawn from the CDC 2022 table (docs/domain.md §5).
OPIOID_REGIMENS = [
    ("oxycodone", "oral", "mg", [5, 10, 15, 20], [2, 3, 4]),
    ("morphine", "oral", "mg", [15, 30, 60], [2, 3]),
    ("hydromorphone", "oral", "mg", [2, 4], [3, 4]),
    ("fentanyl", "transdermal", "mcg/h", [12, 25, 50], [1]),
    ("tramadol", "oral", "mg", [50, 100], [2, 3, 4]),
    ("tapentadol", "oral", "mg", [50, 100], [2]),
    ("hydrocodone", "oral", "mg", [5, 10], [3, 4]),
    ("methadone", "oral", "mg", [5, 10], [2, 3]),
    ("codeine", "oral", "mg", [30, 60], [4]),
    ("oxymorphone", "oral", "mg", [5, 10], [2]),
]
SITE_CATALOGUE = [
    ("ATL", "Atlanta Bone Oncology Center", "US"),
    ("BOS", "Boston Interventional Oncology", "US"),
    ("CHI", "Chicago Spine & Tumor Institute", "US"),
    ("DEN", "Denver Musculoskeletal Oncology", "US"),
    ("HOU", "Houston Cancer Intervention", "US"),
    ("LAX", "Los Angeles Radiology Partners", "US"),
    ("MIA", "Miami Ablation Center", "US"),
    ("NYC", "New York Bone Metastasis Program", "US"),
    ("PHL", "Philadelphia Pain & Tumor Clinic", "US"),
    ("SEA", "Seattle Interventional Radiology", "US"),
    ("STL", "St. Louis Oncology Group", "US"),
    ("SFO", "San Francisco Bone Tumor Service", "US"),
]

# Interview fields (issue 10, part B; seed interview with an interventional radiologist). Local tumour control is
# ~10–20% of procedures, mostly cryoablation: P(local control | modality) gives 0.15·0.6 + 0.85·0.07 ≈ 15%, 60% cryo.
LOCAL_CONTROL_SHARE = {"cryo": 0.60, "RFA": 0.07, "MWA": 0.07, "other": 0.07}
GUIDANCE_MIX = {"ct": 0.45, "cbct": 0.20, "ct_fluoroscopy": 0.10, "fluoroscopy": 0.15, "robotic": 0.05, "navigation": 0.05}
# Fluoroscopy time (mean, SD in seconds): robots and navigation shorten it, which is what sites compare.
FLUOROSCOPY_SECONDS = {"fluoroscopy": (240, 80), "cbct": (150, 50), "robotic": (90, 30), "navigation": (110, 35)}
CEMENT_FILL_AFTER_HEAT = {"complete": 0.75, "partial": 0.22, "none": 0.03}
CEMENT_FILL_AFTER_CRYO = {"complete": 0.50, "partial": 0.42, "none": 0.08}

# Share of home visits the patient answered by link (issue 15): none of the clinic visits.
PATIENT_REPORTED_SHARE = {"day3": 0.6, "week1": 0.5}

# Imaging follow-up of local-control-intent procedures (issue 10, part B; docs/domain.md §12, terms of Ahmed et al.,
# Radiology 2014;273:241). First post-procedure imaging 4–8 weeks after the ablation, then every ~3 months while the
# patient is alive and on study. Technical success (complete ablation on the first imaging): 90–100% in the cryo- and
# heat-ablation series of bone metastases reviewed by Papalexis et al. (Curr Oncol 2023;30:6744) and the CIRSE
# standards (Ryan et al., Cardiovasc Intervent Radiol 2022;45:591); 95% cryo / 92% heat here. Local tumour progression:
# McMenomy et al. (J Vasc Interv Radiol 2013;24:207) report local control of 87% of tumours (68% of bone metastases) at
# a median 21 months after cryoablation for complete remission; 12% (cryo) and 18% (RFA/MWA) by 12 months here, among
# lesions ablated completely. Share of first imagings whose ablation zone is not evaluable (artefact): an assumption.
IMAGING_FIRST_DAYS = (28, 56)
IMAGING_INTERVAL_DAYS = (76, 104)  # ~3 months
IMAGING_MODALITY_MIX = {"mri": 0.50, "ct": 0.35, "pet_ct": 0.15}
TECHNICAL_SUCCESS = {"cryo": 0.95, "RFA": 0.92, "MWA": 0.92, "other": 0.92}
IMAGING_NOT_EVALUABLE = 0.03
LTP_12M = {"cryo": 0.12, "RFA": 0.18, "MWA": 0.18, "other": 0.18}
