"""The denominator of the report ratio (benchmarks/report_scale.py, issue 17): a raw ``COPY (SELECT …) TO STDOUT`` of
the extraction queries and the bare statistical fits the report's fit jobs make, serial, in this process. Split from
report_scale.py, which runs them around each full report run."""

from __future__ import annotations

import time
from dataclasses import dataclass

from benchmarks.report_worker import backend_cpu


def copy_time() -> tuple[float, int, float]:
    """COPY (SELECT …) TO STDOUT of exactly the extraction queries; returns (seconds, bytes, CPU seconds of this
    process and of its PostgreSQL backend)."""
    from django.db import connection

    from analytics.dataset import FRAME_QUERIES

    cpu_before = time.process_time() + backend_cpu()
    total, started = 0, time.perf_counter()
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg cursor
        for query in FRAME_QUERIES.values():
            sql, params = query().values_list().query.sql_with_params()
            statement = connection.ops.compose_sql(sql, params)
            with cursor.copy(f"COPY ({statement}) TO STDOUT") as copy:
                for block in copy:
                    total += len(block)
    seconds = time.perf_counter() - started
    return seconds, total, time.process_time() + backend_cpu() - cpu_before


def copy_keyed_time() -> float:
    """COPY of the integer-keyed frame queries the extraction runs (no study_id text)."""
    from django.db import connection

    from analytics.dataset import FRAME_QUERIES, copy_statement

    started = time.perf_counter()
    with connection.cursor() as wrapper:
        for name, query in FRAME_QUERIES.items():
            queryset = (
                query().queryset.values_list("id", *query().columns.values())
                if name == "patients"
                else query().keyed_values_list()
            )
            with wrapper.cursor.copy(copy_statement(queryset)) as copy:
                for _block in copy:
                    pass
    return time.perf_counter() - started


def issue3_fits(sets, params) -> None:
    """The statistical calls the issue-3 figures counted as "bare fits"."""
    from analytics import stats
    from analytics.stats import propensity

    strata = params.strata
    stats.sre_cumulative_incidence(sets.adtte, strata_variables=strata)
    stats.sre_one_minus_km(sets.adtte, strata_variables=strata)
    stats.overall_survival(sets.adtte, strata_variables=strata)
    stats.logrank_tests(sets.adtte, strata_variables=strata)
    stats.cox_fits(sets.adtte)
    stats.pain_visit_summaries(sets.pain, strata_variables=strata)
    stats.omed_visit_summaries(sets.pain, strata_variables=strata)
    stats.pain_response_rates(sets.adresp, itt_population=sets.itt_population, patients=sets.patients, strata_variables=strata)
    stats.complication_summaries(sets.aes, sets.patients, strata_variables=strata)
    covariates = propensity.covariate_frame(sets.patients, sets.pain)
    propensity.propensity_analyses(covariates, sets.adtte, sets.adresp, contrasts=params.contrasts, visits=params.visits)


def later_fits(sets, params) -> None:
    """The statistical calls of the analyses added since (issues 10, 12, 15, 16): Gray, time to response, mixed
    models, site funnels, patient flow, PRO completion, local tumour control — each as its fit job calls it."""
    from analytics import stats
    from analytics.stats.flow import patient_flow
    from analytics.stats.funnel import site_benchmarking
    from analytics.stats.mixed_model import mixed_models
    from analytics.stats.pro import pro_completion, response_rates_by_source

    strata = params.strata
    stats.gray_tests(sets.adtte, strata_variables=strata)
    stats.time_to_response(sets.adresp, sets.adtte, strata_variables=strata)
    mixed_models(sets.pain, adtte=sets.adtte, strata_variables=strata, visits=params.visits)
    site_benchmarking(
        patients=sets.patients, aes=sets.aes, adresp=sets.adresp, itt_population=sets.itt_population, visits=params.visits
    )
    patient_flow(sets.enrolment, sets.pain, sets.adresp, visits=params.visits, cutoff=sets.cutoff, not_done=sets.visits_not_done)
    pro_completion(sets.adresp)
    response_rates_by_source(sets.adresp)
    if getattr(sets, "lesion_control", None) is not None and getattr(sets, "adltp", None) is not None:
        from analytics.stats.local_control import local_tumour_control

        local_tumour_control(sets.lesion_control, sets.adltp)  # issue 10 part B


def bare_fits(sets, params) -> dict[str, tuple[float, float]]:
    """``{"issue3": (wall s, CPU s), "later": (…)}``: the report's statistical calls only, serial, in this process."""
    out = {}
    for name, fits in (("issue3", issue3_fits), ("later", later_fits)):
        cpu, started = time.process_time(), time.perf_counter()
        fits(sets, params)
        out[name] = (time.perf_counter() - started, time.process_time() - cpu)
    return out


@dataclass(frozen=True)
class Baseline:
    """The ratio's denominator measured once: the raw COPY and the bare fits (``fits``: name → (wall s, CPU s))."""

    copy_s: float
    copy_bytes: int
    copy_cpu: float
    fits: dict[str, tuple[float, float]]

    @property
    def fits_s(self) -> float:
        return sum(wall for wall, _ in self.fits.values())

    @property
    def fits_cpu(self) -> float:
        return sum(cpu for _, cpu in self.fits.values())

    @property
    def cpu(self) -> float:
        return self.copy_cpu + self.fits_cpu

    def mean(self, other: Baseline) -> Baseline:
        """The mean of two measurements (before and after a full run)."""
        fits = {n: ((wall + other.fits[n][0]) / 2, (cpu + other.fits[n][1]) / 2) for n, (wall, cpu) in self.fits.items()}
        copy_bytes = (self.copy_bytes + other.copy_bytes) // 2
        return Baseline((self.copy_s + other.copy_s) / 2, copy_bytes, (self.copy_cpu + other.copy_cpu) / 2, fits)


def baseline(sets, params) -> Baseline:
    """COPY, then the bare fits, once."""
    copy_s, copy_bytes, copy_cpu = copy_time()
    return Baseline(copy_s, copy_bytes, copy_cpu, bare_fits(sets, params))
