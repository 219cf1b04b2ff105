"""Inputs of ``propensity.R`` and the same numbers from analytics.stats.propensity (issue 16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analytics.stats.propensity import propensity_weighting
from analytics.stats.risk_sets import SRE
from analytics.stats.weighted_outcomes import _endpoint_frame, weighted_cox, weighted_steps


def oracle_inputs(covariates: pd.DataFrame, adtte: pd.DataFrame, contrast: str, directory: Path) -> tuple[Path, Path]:
    """design.csv (treated, x1..xk) and outcomes.csv (treated, w, OS and SRE) of ``contrast``."""
    state = propensity_weighting(covariates, contrast)
    assert state.analysed is not None, state.reason
    assert state.design_names[0] == "(Intercept)"
    design = pd.DataFrame(state.design[:, 1:], columns=[f"x{i}" for i in range(1, state.design.shape[1])])
    design.insert(0, "treated", state.complete["treated"].to_numpy())
    outcomes = state.analysed[["study_id", "treated", "w"]].merge(adtte.astype({"study_id": str}), on="study_id")
    paths = directory / "design.csv", directory / "outcomes.csv"
    design.to_csv(paths[0], index=False)
    outcomes[["treated", "w", "os_days", "os_event", "sre_days", "sre_event"]].to_csv(paths[1], index=False, float_format="%.17g")
    return paths


def python_values(covariates: pd.DataFrame, adtte: pd.DataFrame, contrast: str) -> dict[tuple[str, str], float]:
    """Every number propensity.R prints that the Python side computes (curves at their jump times only)."""
    state = propensity_weighting(covariates, contrast)
    values: dict[tuple[str, str], float] = {}
    for i, term in enumerate(state.fields["propensity_model"]):
        values[("glm", f"coef@{i}")] = term.coefficient
        values[("glm", f"se@{i}")] = term.se
    for endpoint in ("os", "sre"):
        frame = _endpoint_frame(state.analysed, adtte, endpoint)
        hr = weighted_cox(frame, endpoint)
        values[(f"cox_{endpoint}", "coef")] = hr.log_hr
        values[(f"cox_{endpoint}", "robust_se")] = hr.se
        for arm in (1, 0):
            sub = frame[frame["treated"] == arm]
            args = (sub["time"].to_numpy(), sub["status"].to_numpy(), sub["w"].to_numpy())
            times, estimate, _, _ = weighted_steps(*args, SRE if endpoint == "sre" else None)
            section, key = ("km_os", "surv") if endpoint == "os" else ("aj_sre", "cif")
            for day, value in zip(times, estimate, strict=True):
                values[(f"{section}_{arm}", f"{key}@{day:g}")] = float(value)
    return values


def mismatches(r_values, py_values, tolerances: dict[str, float]) -> list[str]:
    """Python numbers absent from R's output or off by more than the key's tolerance (default: "default")."""
    problems = []
    for (section, key), value in py_values.items():
        expected = r_values.get(section, {}).get(key)
        tolerance = tolerances.get(key, tolerances["default"])
        if expected is None or not np.isclose(value, expected, rtol=0, atol=tolerance):
            problems.append(f"{section}/{key}: python {value!r} vs R {expected!r}")
    return problems
