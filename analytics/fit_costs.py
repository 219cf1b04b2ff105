"""Measured run time of each fit job's units (issue 17 item 5): the fan-out's schedule (analytics.fits).

Figures: CPU seconds of one unit (``analytics.fits.fit_unit_run``, ``time.process_time``, one BLAS thread,
default strata: all five variables) at **100,000 patients** (registry ``seed_registry --sites 10 --patients
100000 --seed 1``), ``benchmarks/report_fanout.py --units`` on 2026-11-30 under load 8–10 on the shared 2-core
dev box (CPU seconds, which the load inflates far less than wall seconds). Per job either one figure (a
``"whole"`` job: one unit) or ``{"all": …, "site": …, "default": …}`` (``"default"``: the mean of the other four
variables). They only order the units, longest first, so that two workers finish together; a wrong figure
costs time, never a different number.

The 91 units sum to 60.4 s at 100,000 patients (17.9 s at 30,000, 7.4 s at 10,000). The longest are the
site-stratified mixed models (2.5–2.8 s each, one unit per endpoint), the four propensity contrasts (2.4–2.5 s,
one unit each), time to response by site and the site benchmarking (2.1 s): the longest unit is 1/22 of the
total, so the schedule does not bound two workers below 2×.

How they scale, 10,000 → 30,000 → 100,000 patients (×3, then ×3.3): the site-stratified mixed models ×3.7–3.9
then ×3.5–4.0 (the n × p design and its products: they overtake the propensity contrasts at 100,000); the
unstratified mixed models ×2.9 then ×4.2; time to response and the response rates ×2.9–3.1 then ×3.1–3.7; the
site benchmarking ×2.7 then ×3.9; the propensity contrasts ×2.1 then ×2.9–3.0 (a fixed cost per logistic and Cox
fit); the Cox models ×0.9–2.0 then ×2.7; complications ×1.1–1.4 then ×1.2–1.7 (per-site tables).

Before this table (commit c04d7e3) the costs were guesses "at 5,000 patients": ``mixed_model`` 0.05 per
unit (its site unit, all three endpoints, is 8.1 s at 100,000, and was scheduled 38th of 76) and ``propensity``
one unit of the four contrasts (9.9 s, the longest: total/longest = 6.1). They are now one job per endpoint and
per contrast (total/longest 21.7). On two workers the old order simulated as well (makespan 30.2 s of 60.4 s:
the long units were early enough); the split matters from four workers up, or when the stages' sizes shift.
Re-measure with ``OPENBLAS_NUM_THREADS=1 benchmarks/report_fanout.py --units`` (prints this table).
"""

from __future__ import annotations

from analytics.fits import Cost

FIT_COSTS: dict[str, Cost] = {
    "cohort": 0.51,
    "pain": {"all": 0.242, "site": 0.364, "default": 0.356},
    "omed": {"all": 0.194, "site": 0.232, "default": 0.219},
    "pain_response": {"all": 0.668, "site": 1.18, "default": 0.856},
    "time_to_response": {"all": 1.3, "site": 2.13, "default": 1.52},
    "complications": {"all": 0.135, "site": 0.432, "default": 0.256},
    "sre.cumulative_incidence": {"all": 0.032, "site": 0.1, "default": 0.058},
    "sre.one_minus_km": {"all": 0.029, "site": 0.088, "default": 0.053},
    "sre.logrank": {"site": 0.044, "default": 0.045},
    "sre.gray": {"site": 0.059, "default": 0.056},
    "sre.cox": 0.625,
    "overall_survival.km": {"all": 0.031, "site": 0.1, "default": 0.055},
    "overall_survival.logrank": {"site": 0.04, "default": 0.039},
    "overall_survival.cox": 0.599,
    "patient_flow": 0.857,
    "mixed_model.worst": {"all": 0.709, "site": 2.54, "default": 1.16},
    "mixed_model.interference": {"all": 0.693, "site": 2.75, "default": 1.19},
    "mixed_model.omed": {"all": 0.66, "site": 2.78, "default": 1.14},
    "site_benchmarking": 2.12,
    "propensity.cement": 2.4,
    "propensity.radiation_sequence": 2.43,
    "propensity.modality": 2.52,
    "propensity.intent": 2.52,
    "local_tumour_control": 0.261,
}
