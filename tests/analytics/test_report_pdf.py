"""Acceptance (issue 12): the demo registry's report, all five strata requested, read page by page.

The registry is the demo one (``seed_registry`` defaults: 150 patients at 3 sites, seed 1) at a fixed
anchor date; the report runs end to end through ``run_report --sync``. Each page's text is extracted
from the PDF (pypdfium2) and each page's images are counted, so the test sees what a reader sees:
sections in the promised order and size, units, percentages with their named intervals, and none
of the program's codes.
"""

from __future__ import annotations

import json
import re

import pypdfium2 as pdfium
import pytest
from django.core.management import call_command
from pypdfium2 import raw as pdfium_raw

from analytics.render.labels import visit_label
from analytics.stats.strata import STRATA_VARIABLES
from tests.analytics.seeded import seeded_registry

pytestmark = pytest.mark.django_db

PLOT_SECTIONS = ("PAIN", "OPIOID USE", "PAIN RESPONSE", "SKELETAL-RELATED EVENTS", "OVERALL SURVIVAL")
EXPLORATORY = "EXPLORATORY ANALYSES"
LOCAL_CONTROL = "LOCAL TUMOUR CONTROL"  # issue 10 part B: tables, then the LTP plots when the curve is estimable
SECTIONS = (
    "TABLE 1",
    "PATIENT FLOW",
    *PLOT_SECTIONS[:3],
    "PATIENT-REPORTED OUTCOMES",
    "COMPLICATIONS",
    *PLOT_SECTIONS[3:],
    LOCAL_CONTROL,
    EXPLORATORY,
)
PROGRAM_CODES = (
    "evaluable_rate",
    "itt_denominator",
    "not_evaluable",
    "itt_rate",
    "mg/day",
    "OMED,",
    '{"',
    "day3",
    "week1",
    "month1",
    "modality=",
    "site=",
    "Traceback",
    "Error:",
)


_REPORT: dict[str, tuple] = {}


@pytest.fixture
def report(settings, tmp_path_factory):
    """The demo report, run once per module (the tests only read its pages and result.json)."""
    if "report" not in _REPORT:
        out = tmp_path_factory.mktemp("demo-report")
        settings.MEDIA_ROOT = out / "media"
        seeded_registry(150)
        call_command("run_report", "--sync", "--out", str(out / "out"))  # default request: all five strata
        _REPORT["report"] = (_read_pages(out / "out" / "report.pdf"), json.loads((out / "out" / "result.json").read_text()))
    return _REPORT["report"]


def _read_pages(path) -> list[dict]:
    """Per page: its text, its number of images and its section (the first line)."""
    pdf = pdfium.PdfDocument(str(path))
    pages = []
    for index in range(len(pdf)):
        page = pdf[index]
        text = page.get_textpage().get_text_range().replace("\r", "")
        images = sum(1 for _ in page.get_objects(filter=[pdfium_raw.FPDF_PAGEOBJ_IMAGE]))
        pages.append({"text": text, "images": images, "section": text.split("\n", 1)[0].strip()})
    return pages


def _pages(pages, section):
    return [p for p in pages if p["section"] == section]


def test_sections_come_in_order_and_the_contents_page_tells_the_truth(report):
    pages, _ = report
    assert pages[0]["text"].startswith("Bone metastasis ablation registry: outcomes report")
    order = list(dict.fromkeys(p["section"] for p in pages[1:]))
    assert order == list(SECTIONS)
    contents = dict(re.findall(r"^(\S[\w -]+?)\s+pages? (\d+(?:–\d+)?)$", pages[0]["text"], re.MULTILINE))
    assert [name.upper() for name in contents] == list(SECTIONS)
    for name, span in contents.items():
        first, _, last = span.partition("–")
        shown = {p["section"] for p in pages[int(first) - 1 : int(last or first)]}
        assert shown == {name.upper()}, name
    for number, page in enumerate(pages, start=1):
        assert f"page {number} of {len(pages)}" in page["text"]


def test_page_count_by_section(report):
    pages, _ = report
    assert len(_pages(pages, "TABLE 1")) == len(STRATA_VARIABLES)  # Table 1 by each chosen stratum
    for variable in ("site", "modality", "augmentation", "radiation sequence", "region"):
        assert sum(f"Table 1. Baseline characteristics, by {variable}" in p["text"] for p in pages) == 1
    assert len(_pages(pages, "PATIENT FLOW")) == 2  # diagram + completion table
    for section in PLOT_SECTIONS:  # one figure for all patients + one per stratum variable, one per page
        assert [p["images"] for p in _pages(pages, section) if p["images"]] == [1] * (1 + len(STRATA_VARIABLES)), section
    # the funnel plots, then one propensity figure per contrast (issue 16), one per page
    assert all(p["images"] <= 1 for p in _pages(pages, EXPLORATORY)) and sum(p["images"] for p in _pages(pages, EXPLORATORY)) >= 1
    assert not any(p["images"] for p in pages if p["section"] not in (*PLOT_SECTIONS, EXPLORATORY, LOCAL_CONTROL))
    local = "\n".join(p["text"] for p in _pages(pages, LOCAL_CONTROL))
    assert "Technical success per treated lesion" in local and "Local tumour control intent, all" in local
    assert "Cumulative incidence of local tumour progression (LTP)" in local and "Intent: Palliation of pain" in local
    complications = "\n".join(p["text"] for p in _pages(pages, "COMPLICATIONS"))
    assert complications.count("Complications, by ") == len(STRATA_VARIABLES)  # each with its "All patients" column
    assert "Serious adverse events, all patients" in complications
    assert 35 <= len(pages) <= 70  # the exploratory section (issue 16) adds ~7 pages


def test_units_percentages_and_intervals_are_named(report):
    pages, result = report
    text = "\n".join(p["text"] for p in pages)
    assert "Baseline opioid dose, MME/day" in text and "Opioid dose, MME/day, by visit" in text
    assert "(95% CI, Wilson)" in text and "(95% CI, exact Clopper–Pearson)" in text
    response = "\n".join(p["text"] for p in _pages(pages, "PAIN RESPONSE"))
    assert len(re.findall(r"\d+/\d+, \d+% \(\d+–\d+\)", response)) >= 6 * (1 + 15)  # n/N, % (CI) per visit and stratum
    month1 = result["pain_response"]["month1"]
    for stratum in ("all", "site=ATL", "region=spine"):
        k, n = month1[stratum]["itt_responders"], month1[stratum]["itt_denominator"]
        assert f"{k}/{n}, {100 * k / n:.0f}% (" in response, stratum
    for code in ("day3", "week1", "month1", "month12"):
        assert visit_label(code) in response
    for code in PROGRAM_CODES:
        assert code not in text, code
    assert "Results by: Site, Modality, Augmentation, Radiation sequence, Region." in pages[0]["text"]


def test_patient_flow_accounts_for_every_enrolled_patient(report):
    pages, result = report
    flow = result["patient_flow"]
    assert flow["enrolled"] == 150 and flow["treated"] == result["n_patients"]
    assert flow["enrolled"] == flow["treated"] + flow["not_treated"]
    diagram = _pages(pages, "PATIENT FLOW")[0]["text"]
    assert f"Enrolled\n{flow['enrolled']} patients" in diagram and f"Not treated: {flow['not_treated']}" in diagram
    for visit in flow["visits"]:
        if visit["visit"] == "baseline":
            continue
        # expected at a visit = the ITT denominator of the response analysis; analysed = evaluable there
        response = result["pain_response"][visit["visit"]]["all"]
        assert (visit["expected"], visit["analysed"]) == (response["itt_denominator"], response["evaluable"])
        assert f"{visit_label(visit['visit'])}: {visit['analysed']} of {visit['expected']} expected" in diagram


def test_sre_curves_between_strata_are_compared_by_grays_test_beside_the_cause_specific_log_rank(report):
    pages, result = report
    sre = "\n".join(p["text"] for p in _pages(pages, "SKELETAL-RELATED EVENTS"))
    assert "Gray's test (death as competing risk)" in sre and "cause-specific log-rank test (deaths censored)" in sre
    assert sre.index("Gray's test") < sre.index("cause-specific log-rank test")
    gray = {t["variable"]: t for t in result["sre"]["gray"]}
    assert set(gray) == set(STRATA_VARIABLES)
    site = gray["site"]
    groups = ", ".join(f"{g['group']} {g['events']}/{g['competing_events']}" for g in site["groups"])
    shown = f"{site['statistic']:.2f}" if site["statistic"] is not None else site["skipped_reason"]
    assert groups in sre and shown in sre


def test_time_to_first_response_states_the_day3_proportion(report):
    """Issue 16: the demo report states how many patients respond by day 3 (CIF, death competing)."""
    pages, result = report
    section = result["time_to_response"]
    assert {"all", "site=ATL", "region=spine"} <= set(section)
    entry = section["all"]
    day3 = entry["at_days"]["3"]
    assert entry["responders"] > 0 and 0 < day3["estimate"] <= 1
    # Day 3 is the first visit, so every response counted at day 3 is a day-3 responder: F(3) = S(3−)·d/n₃ with
    # S(3−) (deaths before day 3) between n₃/n and 1, i.e. d/n ≤ F(3) ≤ d/n₃ (n₃: still followed at day 3).
    first = entry["cumulative_incidence"][0]
    responders = result["pain_response"]["day3"]["all"]["responders"]
    assert first["day"] == 3 and first["estimate"] == day3["estimate"]
    assert responders / entry["n"] <= day3["estimate"] <= responders / first["at_risk"] + 1e-12
    response = "\n".join(p["text"] for p in _pages(pages, "PAIN RESPONSE"))
    assert "Time to first pain response" in response and "By day 3" in response
    low, high = day3["ci_low"], day3["ci_high"]
    assert (
        f"All patients {entry['n']} {entry['responders']} {100 * day3['estimate']:.0f}% ({100 * low:.0f}–{100 * high:.0f})"
        in " ".join(response.split())
    )
    assert "Durability: responders still responding" in response


def test_patient_reported_outcomes_by_source(report):
    """Issue 15: the demo's day-3 and week-1 answers are partly patient-reported; the PRO page shows completion by
    source and the response rates by source, with the numbers of result.json."""
    pages, result = report
    text = "\n".join(p["text"] for p in _pages(pages, "PATIENT-REPORTED OUTCOMES"))
    assert "PRO completion by visit: expected, received and received by source" in text
    assert "Sensitivity analysis: responders among evaluable patients by source of the pain score" in text
    day3 = result["pro_completion"]["day3"]
    assert day3["received_by_source"]["patient"] > 0 and result["pro_completion"]["month1"]["received_by_source"]["patient"] == 0
    assert sum(day3["received_by_source"].values()) == day3["received"]
    assert f"{day3['expected']}" in text and f"{day3['received_by_source']['patient']} (" in text
    by_source = result["pain_response_by_source"]["day3"]["patient"]
    assert f"{by_source['responders']}/{by_source['evaluable']}, " in text


def test_exploratory_section_is_labelled_and_shows_the_model_and_the_funnels(report):
    """Issue 16: the mixed model (formula and covariates written out) and the site funnels, labelled exploratory."""
    pages, result = report
    section = _pages(pages, "EXPLORATORY ANALYSES")
    text = " ".join("\n".join(p["text"] for p in section).split())
    assert "EXPLORATORY: they generate hypotheses" in text
    assert all(p["text"].split("\n")[1].startswith("Exploratory") for p in section if not p["images"])
    assert "change from baseline[ij] = b0 + visit[j] + baseline value[i] + stratum[i] + visit[j] x stratum[i] + u[i]" in text
    assert "baseline value continuous covariate" in text
    assert "deaths truncate follow-up" in text
    model = result["mixed_model"]["worst"]["modality"]
    assert model["converged"] and model["skipped_reason"] is None and model["n_patients"] > 100
    assert f"{model['n_patients']} patients, {model['n_observations']} observations" in text
    week1 = next(m for m in model["means"] if m["visit"] == "week1" and m["level"] == "RFA")
    assert f"{week1['estimate']:.1f} ({week1['ci_low']:.1f} to {week1['ci_high']:.1f})" in text
    assert "Model: change from baseline ~ visit x modality + baseline value + (1 | patient)." in text
    funnels = result["site_benchmarking"]
    assert set(funnels) == {"major_complications", "pain_response_month1", "follow_up_completeness"}
    for funnel in funnels.values():
        assert f"Outside the 99.8% limits: {', '.join(funnel['outside_998']) or 'none'}" in text
        assert [s["site"] for s in funnel["sites"]] == ["ATL", "BOS", "CHI"]


def test_exploratory_section_states_each_propensity_comparison_or_why_there_is_none(report):
    """Issue 16: every contrast is in the section; an estimated one shows its weighted hazard ratio as in
    result.json, one without balance or overlap shows "no estimate" and its reason, never a number."""
    pages, result = report
    section = _pages(pages, EXPLORATORY)
    text = " ".join("\n".join(p["text"] for p in section).split())
    assert "logit P(treated)" in text and "Crump 2009" in text and "Austin 2009" in text
    entries = result["propensity"]
    assert set(entries) == {"cement", "radiation_sequence", "modality", "intent"}
    # one page per contrast with a balance table: love plot (+ weighted curves when estimated)
    assert sum(p["images"] for p in section) >= sum(1 for e in entries.values() if e["balance"])
    for entry in entries.values():
        assert entry["label"] in text
        if entry["status"] == "estimated":
            hr = entry["cox_sre"]
            if hr["hr"] is not None:
                assert f"{hr['hr']:.2f} ({hr['ci_low']:.2f}–{hr['ci_high']:.2f})" in text
        else:
            assert " ".join(entry["reason"].split()) in text
    # the demo registry (150 patients) is small: at least one contrast must say why it has no estimate
    assert any(e["status"] != "estimated" for e in entries.values())
