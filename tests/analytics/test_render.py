"""Renderers: canonical result.json, CSV contract columns, one XLSX sheet per table, non-blank plots."""

from __future__ import annotations

import json

import numpy as np
import openpyxl
import pandas as pd
import pytest
from PIL import Image

from analytics.compute import numbers_compute
from analytics.dataset import snapshot_extract, snapshot_fingerprint
from analytics.derive import analysis_sets_build
from analytics.parameters import parameters_parse
from analytics.render import artifacts_render
from analytics.render.files import numbers_json, result_document, result_numbers
from analytics.render.plots import FIGURES
from analytics.render.tables import TABLES, result_tables
from tests.analytics.seeded import seeded_registry

_RENDERED: dict[str, tuple] = {}


@pytest.fixture
def rendered(db, tmp_path_factory):
    """Rendered once per module (the tests only read the numbers and files): the registry is seeded in the
    first test's transaction; later tests get the same in-memory numbers and rendered directory."""
    if "run" not in _RENDERED:
        tmp_path = tmp_path_factory.mktemp("rendered")
        seeded_registry(60)
        params = parameters_parse({"strata": ["modality", "region"]})
        snapshot = snapshot_extract()
        sets = analysis_sets_build(snapshot, params)
        numbers = numbers_compute(sets, params, fingerprint=snapshot_fingerprint(snapshot))
        names = artifacts_render(
            tmp_path,
            numbers=numbers,
            sets=sets,
            metadata={"generated_at": "2026-07-01T02:30:00+00:00", "code_version": "test", "run_id": 1},
        )
        _RENDERED["run"] = (tmp_path, numbers, names, sets)
    return _RENDERED["run"]


def test_numbers_json_is_canonical_and_free_of_metadata():
    numbers = {"b": 1.5, "a": {"z": None, "y": [1, 2]}}
    assert numbers_json(numbers) == numbers_json(json.loads(json.dumps(numbers)))
    assert numbers_json(numbers).index('"a"') < numbers_json(numbers).index('"b"')
    document = result_document(numbers, {"generated_at": "2026-07-01T00:00:00Z"})
    assert result_numbers(document) == numbers
    assert document["metadata"]["generated_at"] == "2026-07-01T00:00:00Z"
    assert len(document["metadata"]["numbers_sha256"]) == 64


def test_result_json_numbers_contain_no_generation_time(rendered):
    directory, numbers, _, _ = rendered
    document = json.loads((directory / "result.json").read_text())
    assert "2026-07-01T02:30" not in numbers_json(result_numbers(document))
    assert result_numbers(document) == json.loads(numbers_json(numbers))


def test_csvs_have_exactly_the_contract_columns(rendered):
    directory, numbers, _, _ = rendered
    adtte = pd.read_csv(directory / "adtte.csv")
    assert list(adtte.columns) == [
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
    ]
    assert len(adtte) == numbers["n_patients"] and set(adtte["sre_event"]) <= {0, 1, 2}
    adresp = pd.read_csv(directory / "adresp.csv")
    assert list(adresp.columns) == [
        "study_id",
        "visit",
        "worst_pain_baseline",
        "worst_pain",
        "omed_baseline",
        "omed",
        "response",
        "pain_source",  # issue 15: who gave the visit's pain value
    ]
    assert set(adresp["pain_source"].dropna()) <= {"patient", "staff"}
    assert adresp["pain_source"].isna().eq(adresp["worst_pain"].isna()).all()
    assert set(adresp["response"]) <= {"CR", "PR", "PD", "indeterminate", "not_evaluable"}
    assert not adresp.duplicated(["study_id", "visit"]).any()


def test_xlsx_has_one_sheet_per_table(rendered):
    directory, _, _, _ = rendered
    book = openpyxl.load_workbook(directory / "tables.xlsx", read_only=True)
    assert book.sheetnames == list(TABLES)
    assert book["pain_response"].max_row > 6


def test_every_plot_is_a_non_blank_png(rendered):
    directory, _, names, _ = rendered
    assert set(FIGURES) <= set(names)
    for name in FIGURES:
        pixels = np.asarray(Image.open(directory / name).convert("L"), dtype=float)
        assert pixels.shape[0] > 300 and pixels.std() > 10, name


def test_re_rendering_replaces_the_same_files_without_leftovers(rendered):
    directory, numbers, names, sets = rendered
    before = {name: (directory / name).read_bytes() for name in ("adtte.csv", "adresp.csv")}
    again = artifacts_render(directory, numbers=numbers, sets=sets, metadata={"generated_at": "later", "run_id": 1})
    assert again == names
    assert sorted(p.name for p in directory.iterdir()) == sorted(names)  # no temporary files left behind
    assert {name: (directory / name).read_bytes() for name in before} == before


def test_one_figure_set_per_requested_stratum_variable(rendered):
    directory, numbers, names, _ = rendered
    for plot in FIGURES:
        for suffix in ("", "_by_modality", "_by_region"):
            assert plot.replace(".png", f"{suffix}.png") in names
    assert not any("_by_site" in name or "_by_augmentation" in name for name in names)  # not requested
    modality = Image.open(directory / "overall_survival_by_modality.png").convert("RGB")
    colours = {tuple(c) for c in np.asarray(modality).reshape(-1, 3)[::7]}
    assert {(31, 119, 180), (255, 127, 14), (44, 160, 44)} <= colours  # one curve colour per modality level


def test_table_1_has_a_column_per_level_of_every_requested_variable(rendered):
    _, numbers, _, sets = rendered
    columns = set(next(iter(numbers["cohort"].values())))
    expected = (
        {"all"}
        | {f"modality={m}" for m in sets.patients["modality"].unique()}
        | {f"region={r}" for r in sets.patients["region"].dropna().unique()}
    )
    assert columns == expected
    assert "Baseline opioid dose, MME/day, median [IQR]" in numbers["cohort"]


def _pdf_text(path) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]


def test_pdf_reads_as_a_clinical_report(rendered):
    directory, numbers, _, _ = rendered
    text = "\n".join(_pdf_text(directory / "report.pdf"))
    for code in ("evaluable_rate", "itt_denominator", "not_evaluable", "mg/day", '"strata"', "day3", "month1"):
        assert code not in text, code
    for wording in ("MME/day", "Day 3", "Month 1", "95% CI, Wilson", "Clopper", "Results by: Modality, Region."):
        assert wording in text, wording
    month1 = numbers["pain_response"]["month1"]["modality=RFA"]
    k, n = month1["itt_responders"], month1["itt_denominator"]
    assert f"{k}/{n}, {100 * k / n:.0f}%" in text  # stratified response rate in the PDF, as in the XLSX


def test_survival_plots_span_the_whole_follow_up_with_numbers_at_risk_under_the_ticks(rendered):
    import matplotlib.pyplot as plt

    from analytics.render.plots import os_figure, sre_figure

    _, numbers, _, sets = rendered
    for figure, section, column in ((os_figure, "overall_survival", "os_days"), (sre_figure, "sre", "sre_days")):
        fig = figure(numbers, sets, ["all", "modality=RFA"])
        curve_ax, table_ax = fig.axes[:2]
        days = numbers[section]["time_grid"]["days"]
        assert curve_ax.get_xlim() == (0, days[-1]) >= (0, sets.adtte[column].max())
        assert curve_ax.get_ylim() == (0, 1)
        assert list(curve_ax.get_xticks()) == days
        counts = [t for t in table_ax.texts if t.get_text().isdigit()]
        assert sorted({t.get_position()[0] for t in counts}) == days  # one column of counts per tick
        assert [t.get_text() for t in counts[: len(days)]] == [str(n) for n in numbers[section]["time_grid"]["at_risk"]["all"]]
        plt.close(fig)


def test_a_point_from_few_patients_carries_its_n_and_a_note():
    import matplotlib.pyplot as plt

    from analytics.render.plots import pain_trajectory_figure

    entry = {"mean": 6.0, "ci_low": 5.5, "ci_high": 6.5, "n": 40}
    numbers = {
        "pain": {
            "worst": {"baseline": {"all": entry}, "month12": {"all": {"mean": 3.0, "ci_low": -4.0, "ci_high": 10.0, "n": 3}}}
        }
    }
    fig = pain_trajectory_figure(numbers, None, ["all"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["n=3"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Baseline", "Month 12"]
    assert "fewer than 10 patients" in " ".join(t.get_text() for t in fig.texts)
    plt.close(fig)


def test_csv_ready_writes_the_bytes_of_per_value_float_formatting():
    """Formatting each distinct float once gives exactly ``to_csv(float_format="%.10g")`` (issue 17): whole numbers,
    hundredths, tiny and huge values, -0.0, missing values, text needing quotes and integer/boolean columns."""
    from analytics.render.files import CSV_FLOAT_FORMAT, csv_ready

    rng = np.random.default_rng(17)
    frame = pd.DataFrame(
        {
            "score": rng.integers(0, 11, 500).astype(float),
            "omed": np.round(rng.random(500) * 300, 2),
            "tiny": rng.random(500) * 1e-7,
            "huge": rng.random(500) * 1e12,
            "text": rng.choice(["CR", 'said "a,b"', "", None], 500),
            "days": pd.array(rng.integers(0, 400, 500), dtype="Int64"),
            "flag": rng.integers(0, 2, 500).astype(bool),
        }
    )
    frame.loc[::7, "score"] = np.nan
    frame.loc[::5, "omed"] = np.nan
    frame.loc[3, "omed"] = -0.0
    frame.loc[4, "days"] = pd.NA
    expected = frame.to_csv(index=False, float_format=CSV_FLOAT_FORMAT, lineterminator="\n")
    assert csv_ready(frame).to_csv(index=False, lineterminator="\n") == expected
    assert "-0," in expected  # the -0.0 case is really exercised


def _awkward_frame(rows: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(17)
    frame = pd.DataFrame(
        {
            "study_id": [f"S-{i % 97:04d}" for i in range(rows)],
            "score": rng.integers(0, 11, rows).astype(float),
            "omed": np.round(rng.random(rows) * 300, 2),
            "huge": rng.random(rows) * 1e12,
            "special": rng.choice([np.inf, -np.inf, 1e-300, 5e-324, np.nan], rows),
            "text": rng.choice(["CR", 'said "a,b"', "", None, "line\nbreak", "cr\rreturn", " é−≥😀 ", "x,y"], rows),
            "days": pd.array(rng.integers(0, 400, rows), dtype="Int64"),
            "count": rng.integers(-5, 5, rows),
            "small": rng.integers(0, 9, rows).astype(np.uint8),
            "visit": pd.Categorical(rng.choice(["day3", "week1", "a,b", None], rows), categories=["day3", "week1", "a,b"]),
            'quoted "name", here': rng.choice(["a", "b"], rows),
        }
    )
    frame.loc[::7, "score"] = np.nan
    frame.loc[::5, "omed"] = np.nan
    frame.loc[3, "omed"] = -0.0
    frame.loc[4, "days"] = pd.NA
    frame.loc[6, "study_id"] = np.nan
    return frame


@pytest.mark.parametrize(
    "frame",
    [
        _awkward_frame(),
        _awkward_frame(120_003),  # more than one block of rows
        _awkward_frame().iloc[:0],  # header only
        _awkward_frame()[["text"]],  # one column: csv.writer quotes an empty row, pandas' path
        _awkward_frame().assign(flag=True),  # a boolean column: pandas' path
        _awkward_frame().assign(mixed=[1, "a"] * 250),  # text and numbers in one column: pandas' path
        _awkward_frame().rename(columns={"count": 3}),  # a column named by a number: pandas' path
        pd.DataFrame({"a": [1.5, np.nan], "b": pd.Categorical([1, 2])}),  # numeric categories: pandas' path
    ],
)
def test_csv_write_writes_the_bytes_of_to_csv(frame, tmp_path):
    """The analysis CSVs formatted per distinct value and joined with str.join (issue 17) are the bytes of
    ``csv_ready(frame).to_csv(index=False, lineterminator="\\n")``: quotes, line breaks, missing values, -0.0,
    infinities, integers and nullable integers, categories, unicode; other dtypes take pandas' path."""
    from analytics.render.files import _csv_fields, csv_ready, csv_write

    if frame.columns.equals(_awkward_frame().columns):
        assert all(_csv_fields(frame[column]) is not None for column in frame.columns)  # the fast path is taken
    csv_write(frame, tmp_path / "fast.csv")
    csv_ready(frame).to_csv(tmp_path / "pandas.csv", index=False, lineterminator="\n")
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def _workbook_contents(path) -> list[tuple]:
    """Each sheet's name, cell values with their style and number format, and column widths."""
    book = openpyxl.load_workbook(path)
    return [
        (
            sheet.title,
            [[(c.value, repr(c.font), repr(c.border), repr(c.alignment), c.number_format) for c in r] for r in sheet.iter_rows()],
            {key: dimension.width for key, dimension in sheet.column_dimensions.items()},
        )
        for sheet in book.worksheets
    ]


AWKWARD_TABLES = {
    "awkward": pd.DataFrame(
        {
            "text": ["a", None, np.nan, pd.NA, "é−≥ 😀", "x" * 70, ""],
            "number": [1.5, np.nan, np.inf, -np.inf, -0.0, 1e-300, 12345678.123],
            "count": np.arange(7, dtype=np.int64),
            "small": np.arange(7, dtype=np.uint8),
            "nullable": pd.array([1, None, 3, 4, 5, 6, 7], dtype="Int64"),
            "flag": [True, False, True, True, False, False, True],
            "mixed": ["a", 1, 2.5, True, None, np.int64(3), np.float32(0.25)],
            "category": pd.Categorical(["x", "y", None, "x", "y", "x", "x"]),
            7: [0.1] * 7,
        }
    ),
    "a very long table name exceeding thirty-one characters": pd.DataFrame({"only": [1, 2]}),
    "empty": pd.DataFrame({"a": [], "b": []}),
    "no columns": pd.DataFrame(),
}


@pytest.mark.parametrize(
    "tables",
    [
        AWKWARD_TABLES,
        {**AWKWARD_TABLES, "dates": pd.DataFrame({"day": pd.to_datetime(["2026-01-01", None])})},  # pandas' path
        {"x" * 31 + "1": pd.DataFrame({"a": [1, 2]}), "x" * 31 + "2": pd.DataFrame({"b": ["z"]})},  # one sheet: pandas
    ],
    ids=["plain", "dates", "names"],
)
def test_xlsx_write_writes_what_pandas_writes(tables, tmp_path):
    """tables.xlsx by openpyxl's write-only workbook (issue 17) has the sheets, cells, styles and column widths
    pandas' to_excel gave: missing values, infinities, integers, booleans, mixed objects, long and empty tables."""
    from analytics.render.files import TABLES_XLSX, _pandas_xlsx, xlsx_write

    (tmp_path / "fast").mkdir()
    xlsx_write(tmp_path / "fast", tables)
    _pandas_xlsx(tmp_path / "pandas.xlsx", tables)
    assert _workbook_contents(tmp_path / "fast" / TABLES_XLSX) == _workbook_contents(tmp_path / "pandas.xlsx")
    fast, slow = (openpyxl.load_workbook(p, read_only=True) for p in (tmp_path / "fast" / TABLES_XLSX, tmp_path / "pandas.xlsx"))
    assert [s.calculate_dimension() for s in fast.worksheets] == [s.calculate_dimension() for s in slow.worksheets]


def test_xlsx_write_of_multiindex_columns_fails_as_pandas_does(tmp_path):
    from analytics.render.files import xlsx_write

    wide = pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")]))
    with pytest.raises(NotImplementedError):
        xlsx_write(tmp_path, {"wide": wide})


def test_xlsx_of_a_report_is_what_pandas_writes(rendered, tmp_path):
    from analytics.render.files import TABLES_XLSX, _pandas_xlsx

    directory, numbers, _, _ = rendered
    _pandas_xlsx(tmp_path / "pandas.xlsx", result_tables(numbers))
    assert _workbook_contents(directory / TABLES_XLSX) == _workbook_contents(tmp_path / "pandas.xlsx")


def test_render_inputs_give_the_same_artifacts(rendered, tmp_path):
    """The pipeline frees every set but adtte, adresp and adltp before rendering (issue 17 memory): same files
    (the CSVs and every PNG byte for byte, result.json's numbers; the PDF is drawn from those PNGs and the numbers)."""
    from analytics.render import render_inputs

    directory, numbers, names, sets = rendered
    reduced = render_inputs(sets)
    assert len(reduced.pain) == len(reduced.patients) == 0 and reduced.enrolment is None and reduced.itt_population == {}
    assert reduced.adtte is sets.adtte and reduced.adresp is sets.adresp and reduced.adltp is sets.adltp
    assert len(sets.pain) > 0  # the original untouched
    metadata = {"generated_at": "2026-07-01T02:30:00+00:00", "code_version": "test", "run_id": 1}
    again = artifacts_render(tmp_path, numbers=numbers, sets=reduced, metadata=metadata)
    assert again == names
    for name in names:
        if name.endswith((".csv", ".png")):
            assert (tmp_path / name).read_bytes() == (directory / name).read_bytes(), name
    # result.json: its numbers (another test re-renders the shared directory with other metadata)
    assert json.loads((tmp_path / "result.json").read_text()) | {"metadata": None} == json.loads(
        (directory / "result.json").read_text()
    ) | {"metadata": None}


def test_render_freezes_the_long_lived_objects_only_while_it_runs(monkeypatch):
    """artifacts_render keeps the objects alive on entry out of full collections (issue 17: render CPU), and gives
    the collector back as it was: unfrozen after it (also when it raises), untouched if something else froze."""
    import gc

    from analytics.render import long_lived_objects_frozen

    assert gc.get_freeze_count() == 0
    with long_lived_objects_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), long_lived_objects_frozen():
        raise RuntimeError
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:  # a worker froze its start-up objects: render neither freezes more nor unfreezes them (a frozen object
        # that dies leaves the count, so the calls are what is checked, not the count)
        calls: list[str] = []
        monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
        monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
        with long_lived_objects_frozen():
            pass
        assert calls == []
    finally:
        monkeypatch.undo()
        gc.unfreeze()
