"""Measured run time of each fit job's units (issue 17 item 5): the fan-out's schedule (analytics.fits).

Figures: CPU seconds of one unit (``analytics.fits.fit_unit_run``, ``time.process_time``, one BLAS thread,
default strata: all five variables) at **100,000 patients** (registry ``seed_registry --sites 10 --patients
100000 --seed 1``), ``benchmarks/report_fanout.py --units`` on 2026-11-30 (code of 5c4d7f9: the block-wise
REML mixed model) under load 3.5–5 on the shared 2-core dev box (CPU seconds, which the load inflates far
less than wall seconds). Per job either one figure (a ``"whole"`` job: one unit) or
``{"all": …, "site": …, "default": …}`` (``"default"``: the mean of the other four variables). They only
order the units, longest first, so that two workers finish together; a wrong figure costs time, never a
different number.

The 91 units sum to 37.1 s at 100,000 patients. The longest are the four propensity contrasts (2.1–2.5 s, one
unit each), time to response by site (1.9 s) and the site benchmarking (1.5 s): the longest unit is 1/15 of the
total, so the schedule does not bound two workers below 2× (simulated: 1.95).

How they scaled, 10,000 → 30,000 → 100,000 patients (×3, then ×3.3; measured before 5c4d7f9, when the
site-stratified mixed models were 0.19 → 0.73 → 2.5–2.8 s per endpoint, now 0.47–0.50 s at 100,000): time to
response and the response rates ×2.9–3.1 then ×3.1–3.7; the site benchmarking ×2.7 then ×3.9; the propensity
contrasts ×2.1 then ×2.9–3.0 (a fixed cost per logistic and Cox fit); the Cox models ×0.9–2.0 then ×2.7;
complications ×1.1–1.4 then ×1.2–1.7 (per-site tables).

Before this table (commit c04d7e3) the costs were guesses "at 5,000 patients": ``mixed_model`` 0.05 per
unit (its site unit, all three endpoints, was 8.1 s at 100,000 before 5c4d7f9, scheduled 38th of 76) and
``propensity`` one unit of the four contrasts (9.9 s, the longest: total/longest = 6.1 of 60.4 s then; ~9.2 s
of 37.1 s now, 4.0). They are now one job per endpoint and per contrast. On two workers the old order simulated
as well (makespan 30.2 s of 60.4 s: the long units were early enough); the split matters from three workers up.
Re-measure with ``OPENBLAS_NUM_THREADS=1 benchmarks/report_fanout.py --units`` (prints this table).
"""

from __future__ import annotations

from analytics.fits import Cost

FIT_COSTS: dict[str, Cost] = {
    "cohort": 0.514,
    "pain": {"all": 0.224, "site": 0.367, "default": 0.28},
    "omed": {"all": 0.167, "site": 0.228, "default": 0.213},
    "pain_response": {"all": 0.473, "site": 0.833, "default": 0.568},
    "time_to_response": {"all": 1.12, "site": 1.94, "default": 1.23},
    "complications": {"all": 0.151, "site": 0.56, "default": 0.254},
    "sre.cumulative_incidence": {"all": 0.032, "site": 0.088, "default": 0.05},
    "sre.one_minus_km": {"all": 0.029, "site": 0.08, "default": 0.048},
    "sre.logrank": {"site": 0.04, "default": 0.036},
    "sre.gray": {"site": 0.055, "default": 0.05},
    "sre.cox": 0.529,
    "overall_survival.km": {"all": 0.028, "site": 0.087, "default": 0.049},
    "overall_survival.logrank": {"site": 0.037, "default": 0.034},
    "overall_survival.cox": 0.524,
    "patient_flow": 0.503,
    "mixed_model.worst": {"all": 0.249, "site": 0.503, "default": 0.337},
    "mixed_model.interference": {"all": 0.257, "site": 0.479, "default": 0.329},
    "mixed_model.omed": {"all": 0.252, "site": 0.473, "default": 0.321},
    "site_benchmarking": 1.53,
    "propensity.cement": 2.13,
    "propensity.radiation_sequence": 2.31,
    "propensity.modality": 2.49,
    "propensity.intent": 2.3,
    "local_tumour_control": 0.291,
}
