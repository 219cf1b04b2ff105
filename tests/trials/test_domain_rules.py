"""Pure clinical rules against docs/domain.md's published numbers."""

import datetime as dt
from decimal import Decimal

import pytest

from trials.domain import bpi, mme, radiation, schedule, sins

# --- MME (docs/domain.md §5, CDC 2022) -------------------------------------------


def test_cdc_example_oxycodone_10mg_twice_daily_is_30_mme():
    result = mme.mme_per_day(drug="oxycodone", route="oral", dose=Decimal("10"), unit="mg", doses_per_day=Decimal("2"))
    assert result.daily_dose == Decimal("20")
    assert result.mme_per_day == Decimal("30.00")
    assert result.table_version == "CDC 2022"


@pytest.mark.parametrize(
    ("drug", "dose", "per_day", "expected"),
    [
        ("codeine", "30", "4", "18.00"),  # 120 mg × 0.15
        ("hydrocodone", "10", "3", "30.00"),  # × 1
        ("hydromorphone", "4", "4", "80.00"),  # 16 × 5
        ("methadone", "10", "2", "94.00"),  # 20 × 4.7
        ("morphine", "30", "2", "60.00"),  # × 1
        ("oxycodone", "5", "3", "22.50"),  # 15 × 1.5
        ("oxymorphone", "10", "2", "60.00"),  # 20 × 3
        ("tapentadol", "100", "2", "80.00"),  # 200 × 0.4
        ("tramadol", "50", "4", "40.00"),  # 200 × 0.2
    ],
)
def test_mme_every_oral_drug_in_table(drug, dose, per_day, expected):
    result = mme.mme_per_day(drug=drug, route="oral", dose=Decimal(dose), unit="mg", doses_per_day=Decimal(per_day))
    assert result.mme_per_day == Decimal(expected)


def test_fentanyl_patch_mcg_per_hour_times_2_4():
    result = mme.mme_per_day(drug="fentanyl", route="transdermal", dose=Decimal("25"), unit="mcg/h", doses_per_day=Decimal("1"))
    assert result.mme_per_day == Decimal("60.00")
    assert result.factor == Decimal("2.4")


def test_fentanyl_doses_per_day_is_patches_worn_at_once_and_multiplies():
    # Issue 12: 25 mcg/h with doses_per_day 2 gave 60 MME/day while the record read "25 mcg/h × 2/d".
    result = mme.mme_per_day(drug="fentanyl", route="transdermal", dose=Decimal("25"), unit="mcg/h", doses_per_day=Decimal("2"))
    assert (result.daily_dose, result.mme_per_day) == (Decimal("50"), Decimal("120.00"))
    assert mme.dose_label(Decimal("25.00"), "mcg/h", Decimal("2.00")) == "25 mcg/h × 2 patches at once"
    assert mme.dose_label(Decimal("25.00"), "mcg/h", Decimal("1.00")) == "25 mcg/h × 1 patch at once"
    assert mme.dose_label(Decimal("16.00"), "mg", Decimal("4.00")) == "16 mg × 4/day"
    with pytest.raises(mme.MMEError) as exc:
        mme.mme_per_day(drug="fentanyl", route="transdermal", dose=Decimal("25"), unit="mcg/h", doses_per_day=Decimal("1.5"))
    assert exc.value.field == "doses_per_day" and "patches worn at once" in exc.value.message


@pytest.mark.parametrize(
    ("dose", "per_day", "expected"),
    [
        ("16", "4", "9.60"),
        ("16", "3", "7.20"),  # codeine, issue 12: 7.20 = 0.75 × 9.60 exactly
        ("0.1", "3", "0.04"),  # 0.3 mg/day × 0.15 = 0.045 → 0.04 (Decimal half-even to 0.01 MME/day)
    ],
)
def test_codeine_mme_is_exact_decimal(dose, per_day, expected):
    result = mme.mme_per_day(drug="codeine", route="oral", dose=Decimal(dose), unit="mg", doses_per_day=Decimal(per_day))
    assert result.mme_per_day == Decimal(expected)


def test_fentanyl_in_mg_is_rejected_naming_unit():
    with pytest.raises(mme.MMEError) as exc:
        mme.mme_per_day(drug="fentanyl", route="transdermal", dose=Decimal("25"), unit="mg", doses_per_day=Decimal("1"))
    assert exc.value.field == "unit"


def test_buprenorphine_without_factor_rejected_with_guidance():
    with pytest.raises(mme.MMEError) as exc:
        mme.mme_per_day(drug="buprenorphine", route="oral", dose=Decimal("1"), unit="mg", doses_per_day=Decimal("1"))
    assert exc.value.field == "drug"
    assert "partial agonist" in exc.value.message and "Explicit MME factor" in exc.value.message
    assert "oxycodone (oral, mg)" not in exc.value.message  # guidance, not the whole table


def test_known_drug_unknown_route_rejected_naming_route():
    with pytest.raises(mme.MMEError) as exc:
        mme.mme_per_day(drug="morphine", route="iv", dose=Decimal("5"), unit="mg", doses_per_day=Decimal("4"))
    assert exc.value.field == "route"


def test_explicit_factor_needs_source_and_is_versioned():
    with pytest.raises(mme.MMEError) as exc:
        mme.mme_per_day(
            drug="other", route="iv", dose=Decimal("5"), unit="mg", doses_per_day=Decimal("4"), explicit_factor=Decimal("3")
        )
    assert exc.value.field == "factor_source"
    result = mme.mme_per_day(
        drug="morphine",
        route="iv",
        dose=Decimal("5"),
        unit="mg",
        doses_per_day=Decimal("4"),
        explicit_factor=Decimal("3"),
        factor_source="Local pharmacy table 2025",
    )
    assert result.mme_per_day == Decimal("60.00")
    assert result.table_version == "explicit: Local pharmacy table 2025"


@pytest.mark.parametrize(("dose", "per_day", "field"), [("0", "1", "dose"), ("-5", "1", "dose"), ("5", "0", "doses_per_day")])
def test_doses_must_be_positive(dose, per_day, field):
    with pytest.raises(mme.MMEError) as exc:
        mme.mme_per_day(drug="morphine", route="oral", dose=Decimal(dose), unit="mg", doses_per_day=Decimal(per_day))
    assert exc.value.field == field


# --- SINS (docs/domain.md §8) ----------------------------------------------------


def _total(level="T5", pain="none", lesion="blastic", alignment="normal", collapse="none", posterolateral="none"):
    return sins.sins_total(
        level=level, pain=pain, bone_lesion=lesion, alignment=alignment, collapse=collapse, posterolateral=posterolateral
    )


@pytest.mark.parametrize(
    ("level", "points"),
    [
        ("C1", 3),
        ("C2", 3),
        ("C3", 2),
        ("C6", 2),
        ("C7", 3),
        ("T2", 3),
        ("T3", 1),
        ("T10", 1),
        ("T11", 3),
        ("L1", 3),
        ("L2", 2),
        ("L4", 2),
        ("L5", 3),
        ("S1", 3),
        ("S2", 0),
        ("S5", 0),
    ],
)
def test_sins_location_points_by_level(level, points):
    assert _total(level=level) == points


@pytest.mark.parametrize(
    ("kwargs", "total", "category"),
    [
        # T5 (1) + occasional (1) + mixed (1) + deformity (2) + none_gt50 (1) + none (0) = 6 → stable
        ({"pain": "occasional", "lesion": "mixed", "alignment": "deformity", "collapse": "none_gt50_involved"}, 6, "stable"),
        # + unilateral (1) = 7 → potentially unstable
        (
            {
                "pain": "occasional",
                "lesion": "mixed",
                "alignment": "deformity",
                "collapse": "none_gt50_involved",
                "posterolateral": "unilateral",
            },
            7,
            "potentially unstable",
        ),
        # T5 1 + mechanical 3 + lytic 2 + deformity 2 + gt50 3 + unilateral 1 = 12; bilateral → 14; lt50 + bilateral → 13
        (
            {
                "pain": "mechanical",
                "lesion": "lytic",
                "alignment": "deformity",
                "collapse": "gt50",
                "posterolateral": "unilateral",
            },
            12,
            "potentially unstable",
        ),
        (
            {
                "pain": "mechanical",
                "lesion": "lytic",
                "alignment": "deformity",
                "collapse": "gt50",
                "posterolateral": "bilateral",
            },
            14,
            "unstable",
        ),
        (
            {
                "pain": "mechanical",
                "lesion": "lytic",
                "alignment": "deformity",
                "collapse": "lt50",
                "posterolateral": "bilateral",
            },
            13,
            "unstable",
        ),
        (
            {
                "level": "L1",
                "pain": "mechanical",
                "lesion": "lytic",
                "alignment": "subluxation",
                "collapse": "gt50",
                "posterolateral": "bilateral",
            },
            18,
            "unstable",
        ),
    ],
)
def test_sins_totals_and_category_boundaries(kwargs, total, category):
    assert _total(**kwargs) == total
    assert sins.sins_category(total) == category


def test_sins_category_rejects_out_of_range():
    with pytest.raises(ValueError):
        sins.sins_category(19)


# --- Radiation (docs/domain.md §9) -----------------------------------------------


@pytest.mark.parametrize(
    ("dose", "fractions", "bed", "eqd2"),
    [(8, 1, 14.4, 12.0), (20, 5, 28.0, 23.3), (30, 10, 39.0, 32.5), (24, 2, 52.8, 44.0)],
)
def test_bed_eqd2_checks_from_domain(dose, fractions, bed, eqd2):
    assert radiation.bed(total_dose_gy=dose, fractions=fractions) == pytest.approx(bed, abs=1e-9)
    assert round(radiation.eqd2(total_dose_gy=dose, fractions=fractions), 1) == eqd2


# --- BPI interference (docs/domain.md §3) ----------------------------------------


def test_interference_mean_of_answered_when_at_least_four():
    assert bpi.interference_score([2, 4, 6, 8, None, None, None]) == 5.0
    assert bpi.interference_score([1, 2, 3, 4, 5, 6, 7]) == 4.0


def test_interference_missing_with_three_answered():
    assert bpi.interference_score([9, 9, 9, None, None, None, None]) is None


# --- Visit schedule and status (docs/domain.md §2) -------------------------------

DAY0 = dt.date(2026, 3, 1)
MONTH1 = schedule.VISITS_BY_CODE["month1"]  # target 30, window 21..42


def _status(offset: int, **kw):
    return schedule.visit_status(
        MONTH1, day0=DAY0, on=DAY0 + dt.timedelta(days=offset), has_data=kw.get("has_data", False), exit_date=kw.get("exit_date")
    )


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(20, "upcoming"), (21, "due"), (30, "due"), (31, "overdue"), (42, "overdue"), (43, "missed")],
)
def test_month1_status_on_window_boundaries(offset, expected):
    assert _status(offset) == expected


def test_completed_wins_and_exit_makes_not_applicable():
    assert _status(43, has_data=True) == "completed"
    assert _status(35, exit_date=DAY0 + dt.timedelta(days=25)) == "not_applicable"
    # window closed before the exit: stays missed
    assert _status(60, exit_date=DAY0 + dt.timedelta(days=50)) == "missed"


@pytest.mark.parametrize("code", schedule.VISIT_CODES)
def test_every_visit_boundaries(code):
    d = schedule.VISITS_BY_CODE[code]

    def st(day):
        return schedule.visit_status(d, day0=DAY0, on=DAY0 + dt.timedelta(days=day), has_data=False)

    assert st(d.window_start - 1) == "upcoming"
    assert st(d.window_start) == "due"
    assert st(d.target_day) == "due"
    if d.window_end > d.target_day:
        assert st(d.target_day + 1) == "overdue"
        assert st(d.window_end) == "overdue"
    assert st(d.window_end + 1) == "missed"


def test_schedule_matches_domain_table():
    assert [(v.code, v.target_day, v.window_start, v.window_end) for v in schedule.DEFAULT_SCHEDULE] == [
        ("baseline", 0, -14, 0),
        ("day3", 3, 2, 4),
        ("week1", 7, 5, 10),
        ("month1", 30, 21, 42),
        ("month3", 90, 75, 105),
        ("month6", 180, 150, 210),
        ("month12", 365, 330, 400),
    ]
